import type { Database } from 'bun:sqlite'
import { isoTime } from '../../libs/clock'
import type { Note } from './model'

interface NoteRow {
  id: number
  text: string
  created_at: number
}

const toNote = (row: NoteRow): Note => ({
  id: row.id,
  text: row.text,
  createdAt: isoTime(row.created_at),
})

/** Every query is scoped by user_id: a user only ever reaches their own notes. */
export function createNoteStore(db: Database) {
  const list = db.query<NoteRow, [number]>('SELECT id, text, created_at FROM notes WHERE user_id = ? ORDER BY id')
  const insert = db.query<NoteRow, [number, string, number]>(
    'INSERT INTO notes (user_id, text, created_at) VALUES (?, ?, ?) RETURNING id, text, created_at',
  )
  const remove = db.query<null, [number, number]>('DELETE FROM notes WHERE id = ? AND user_id = ?')
  return {
    list: (userId: number): Note[] => list.all(userId).map(toNote),
    create: (userId: number, text: string, nowMs: number): Note => toNote(insert.get(userId, text, nowMs) as NoteRow),
    /** False when the note does not exist or belongs to someone else. */
    delete: (userId: number, id: number): boolean => remove.run(id, userId).changes > 0,
  }
}

export type NoteStore = ReturnType<typeof createNoteStore>
