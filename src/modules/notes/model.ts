import { t, type UnwrapSchema } from 'elysia'

export const NoteModel = {
  createBody: t.Object({ text: t.String({ minLength: 1, maxLength: 1000 }) }),
  params: t.Object({ id: t.Integer({ minimum: 1 }) }),
  note: t.Object({ id: t.Integer(), text: t.String(), createdAt: t.String({ format: 'date-time' }) }),
} as const

export type Note = UnwrapSchema<typeof NoteModel.note>
