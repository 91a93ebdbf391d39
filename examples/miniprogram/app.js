import { auth } from './utils/auth.js'

App({
  // Log in once at launch: wx.login → POST /auth/login → the skey in wx storage. Pages that ask the server
  // before it finishes share this login (the client never runs two at once), and a page whose request
  // finds the skey expired later logs in again by itself.
  onLaunch() {
    auth.login().catch((error) => {
      // Each page shows its own error (and a retry button) when its request fails too.
      console.warn('wxauth: login at launch failed', error)
    })
  },
})
