// Log in and show who the server thinks you are (GET /auth/me).
import { me } from '../../utils/api.js'
import { auth } from '../../utils/auth.js'
import { messageFor } from '../../utils/errors.js'

Page({
  data: {
    /** loading | ready | loggedOut | error */
    state: 'loading',
    /** @type {import('../../utils/api.js').User | null} */
    user: null,
    expiresAt: '',
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
      // Logs in first when there is no skey yet (or shares the login App.onLaunch started).
      const { user, expiresAt } = await me()
      this.setData({ state: 'ready', user, expiresAt: new Date(expiresAt).toLocaleString() })
    } catch (error) {
      this.setData({ state: 'error', error: messageFor(error) })
    }
  },

  async logIn() {
    this.setData({ state: 'loading', error: '' })
    try {
      await auth.login()
      await this.load()
    } catch (error) {
      this.setData({ state: 'error', error: messageFor(error) })
    }
  },

  async logOut() {
    this.setData({ state: 'loading' })
    try {
      await auth.logout()
    } catch (error) {
      // The skey is forgotten even when the server could not be told (it then ends at its expiry).
      console.warn('wxauth: logout not confirmed by the server', error)
    }
    this.setData({ state: 'loggedOut', user: null, expiresAt: '' })
  },

  openNotes() {
    wx.navigateTo({ url: '/pages/notes/index' })
  },

  openPhone() {
    wx.navigateTo({ url: '/pages/phone/index' })
  },
})
