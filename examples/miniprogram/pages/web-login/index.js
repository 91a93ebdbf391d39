// The page a web-login code opens (WEB_LOGIN_PAGE, default pages/web-login/index): shows which browser asks to
// be signed in as this user, then confirms or denies it. See the README's "Web login".
import { auth } from '../../utils/auth.js'
import { messageFor } from '../../utils/errors.js'

Page({
  data: {
    /** loading | ask | sending | confirmed | denied | error */
    state: 'loading',
    /** @type {import('../../libs/wxauth.js').WebLoginBrowser | null} */
    browser: null,
    time: '',
    error: '',
  },

  /** The ticket, from the code's `scene`. */
  scene: '',

  async onLoad(query) {
    this.scene = decodeURIComponent(query.scene || '') // WeChat hands the scene over URI-encoded
    try {
      const { browser } = await auth.webLogin.scan(this.scene)
      this.setData({ state: 'ask', browser, time: new Date(browser.createdAt).toLocaleString() })
    } catch (error) {
      this.setData({ state: 'error', error: messageFor(error) })
    }
  },

  confirm() {
    return this.answer('confirm', 'confirmed')
  },

  deny() {
    return this.answer('deny', 'denied')
  },

  /**
   * @param {'confirm' | 'deny'} action
   * @param {'confirmed' | 'denied'} done
   */
  async answer(action, done) {
    this.setData({ state: 'sending' })
    try {
      await auth.webLogin[action](this.scene)
      this.setData({ state: done })
    } catch (error) {
      this.setData({ state: 'error', error: messageFor(error) })
    }
  },
})
