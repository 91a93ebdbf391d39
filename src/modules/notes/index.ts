import { Elysia, t } from 'elysia'
import { bodyLimit } from '../../libs/body-limit'
import type { Clock } from '../../libs/clock'
import { AppError, errors } from '../../libs/errors'
import { routeDoc } from '../../libs/openapi'
import type { Guard } from '../sessions'
import { NoteModel } from './model'
import type { NoteStore } from './service'

/** The example protected resource: copy this folder to add your own endpoints. */
export function createNotesRoutes({ notes, guard, clock }: { notes: NoteStore; guard: Guard; clock: Clock }) {
  return new Elysia({ name: 'wxauth.notes', prefix: '/notes' })
    .use(errors())
    .use(bodyLimit())
    .use(guard)
    .get('', ({ user }) => notes.list(user.id), {
      auth: true,
      response: { 200: t.Array(NoteModel.note) },
      detail: routeDoc({ summary: 'Your notes, newest last', tag: 'notes', auth: true }),
    })
    .post(
      '',
      function createNote({ user, body, set }) {
        set.status = 201
        return notes.create(user.id, body.text, clock())
      },
      {
        auth: true,
        body: NoteModel.createBody,
        response: { 201: NoteModel.note },
        detail: routeDoc({ summary: 'Add a note', tag: 'notes', auth: true, body: true }),
      },
    )
    .delete(
      '/:id',
      async function deleteNote({ user, params, set }) {
        if (!(await notes.delete(user.id, params.id))) throw new AppError(404, 'NOT_FOUND', 'no such note')
        set.status = 204
      },
      {
        auth: true,
        params: NoteModel.params,
        detail: routeDoc({
          summary: 'Delete one of your notes',
          tag: 'notes',
          auth: true,
          errors: { 400: ['VALIDATION'], 404: ['NOT_FOUND'] },
          success: { 204: { description: 'deleted' } },
        }),
      },
    )
}
