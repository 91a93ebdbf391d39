// The example protected resource: GET /notes, POST /notes, DELETE /notes/:id, all with the skey.
import { addNote, deleteNote, listNotes } from '../../utils/api.js'
import { messageFor } from '../../utils/errors.js'

const MAX_NOTE_LENGTH = 1000

Page({
  data: {
    /** loading | ready | error (the list could not be loaded) */
    state: 'loading',
    /** @type {Array<import('../../utils/api.js').Note & { time: string }>} */
    notes: [],
    text: '',
    maxLength: MAX_NOTE_LENGTH,
    adding: false,
    /** id of the note being deleted, or 0 */
    deleting: 0,
    /** an error of add or delete, shown above the list that stays */
    error: '',
  },

  // Lifecycle methods return nothing: load() shows its own errors, and a returned promise would also stop
  // TypeScript from typing `this` in this file's JSDoc check.
  onLoad() {
    this.load()
  },

  onPullDownRefresh() {
    this.load().then(() => wx.stopPullDownRefresh())
  },

  async load() {
    this.setData({ state: 'loading', error: '' })
    try {
      const notes = await listNotes()
      this.setData({ state: 'ready', notes: notes.map(withTime) })
    } catch (error) {
      this.setData({ state: 'error', error: messageFor(error) })
    }
  },

  /** @param {WechatMiniprogram.TextareaInput} event */
  onInput(event) {
    this.setData({ text: event.detail.value })
  },

  async add() {
    const text = this.data.text.trim()
    if (text === '' || this.data.adding) return
    this.setData({ adding: true, error: '' })
    try {
      const note = await addNote(text)
      this.setData({ notes: [withTime(note)].concat(this.data.notes), text: '' })
    } catch (error) {
      this.setData({ error: messageFor(error) })
    }
    this.setData({ adding: false })
  },

  /** @param {WechatMiniprogram.TouchEvent} event (data-id: the note id) */
  async remove(event) {
    const id = Number(event.currentTarget.dataset.id)
    if (this.data.deleting) return
    this.setData({ deleting: id, error: '' })
    try {
      await deleteNote(id)
      this.setData({ notes: this.data.notes.filter((note) => note.id !== id) })
    } catch (error) {
      this.setData({ error: messageFor(error) })
    }
    this.setData({ deleting: 0 })
  },
})

/**
 * @param {import('../../utils/api.js').Note} note
 * @returns {import('../../utils/api.js').Note & { time: string }}
 */
function withTime(note) {
  return Object.assign({}, note, { time: new Date(note.createdAt).toLocaleString() })
}
