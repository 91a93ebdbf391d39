import type { Database } from 'bun:sqlite'
import type { SQL } from 'bun'
import { isoTime } from '../../libs/clock'
import type { MaybePromise } from '../store/model'
import type { Note } from './model'

interface NoteRow {
  id: number | string
  text: string
  created_at: number | string
}

const toNote = (row: NoteRow): Note => ({
  id: Number(row.id),
  text: row.text,
  createdAt: isoTime(Number(row.created_at)),
})

/** Every query is scoped by user_id: a user only ever reaches their own notes. */
export interface NoteStore {
  list(userId: number): MaybePromise<Note[]>
  create(userId: number, text: string, nowMs: number): MaybePromise<Note>
  /** False when the note does not exist or belongs to someone else. */
  delete(userId: number, id: number): MaybePromise<boolean>
}

export function createNoteStore(db: Database): NoteStore {
  const list = db.query<NoteRow, [number]>('SELECT id, text, created_at FROM notes WHERE user_id = ? ORDER BY id')
  const insert = db.query<NoteRow, [number, string, number]>(
    'INSERT INTO notes (user_id, text, created_at) VALUES (?, ?, ?) RETURNING id, text, created_at',
  )
  const remove = db.query<null, [number, number]>('DELETE FROM notes WHERE id = ? AND user_id = ?')
  return {
    list: (userId) => list.all(userId).map(toNote),
    create: (userId, text, nowMs) => toNote(insert.get(userId, text, nowMs) as NoteRow),
    delete: (userId, id) => remove.run(id, userId).changes > 0,
  }
}

export function createPostgresNoteStore(sql: SQL): NoteStore {
  return {
    async list(userId) {
      const rows = await sql<NoteRow[]>`SELECT id, text, created_at FROM notes WHERE user_id = ${userId} ORDER BY id`
      return rows.map(toNote)
    },
    async create(userId, text, nowMs) {
      const [row] = await sql<NoteRow[]>`
        INSERT INTO notes (user_id, text, created_at) VALUES (${userId}, ${text}, ${nowMs}) RETURNING id, text, created_at`
      return toNote(row as NoteRow)
    },
    async delete(userId, id) {
      return (await sql`DELETE FROM notes WHERE id = ${id} AND user_id = ${userId}`).count > 0
    },
  }
}
