// Turns what a wxauth call rejects with into a sentence for the user.
import { WxAuthError } from '../libs/wxauth.js'

/** @type {Record<string, string>} */
const MESSAGES = {
  NETWORK:
    'Cannot reach the server. Check BASE_URL in utils/auth.js and the request legal domains (or tick 不校验合法域名 in DevTools).',
  BAD_RESPONSE: 'The server answered something that is not wxauth: check BASE_URL in utils/auth.js.',
  WX_LOGIN_FAILED: 'WeChat login failed. Try again.',
  WECHAT_CODE_INVALID: 'The login code was refused (is WECHAT_APPID this mini program’s AppID?). Try again.',
  WECHAT_USER_BLOCKED: 'WeChat does not allow this account to log in.',
  WECHAT_UNAVAILABLE: 'WeChat is not answering the server right now. Try again in a moment.',
  WECHAT_RATE_LIMITED: 'WeChat is busy. Try again in a moment.',
  RATE_LIMITED: 'Too many attempts. Wait a minute and try again.',
  SKEY_MISSING: 'You are not logged in. Try again.',
  SKEY_INVALID: 'Your session has ended. Try again.',
  STORE_UNAVAILABLE: 'The server’s storage is not answering. Try again in a moment.',
  VALIDATION: 'The server did not accept this input.',
  NOT_FOUND: 'Not found: it may have been deleted already.',
  PAYLOAD_TOO_LARGE: 'That is too long.',
  PHONE_CODE_INVALID: 'The phone number permission expired or was already used. Tap the button again.',
  MINIPROGRAM_SESSION_REQUIRED: 'This needs a mini program login.',
  TICKET_INVALID: 'This code is no longer valid. Reload the web page for a new one.',
  TICKET_EXPIRED: 'This code has expired. Reload the web page for a new one.',
  TICKET_CLAIMED: 'This code was already used.',
  INTERNAL: 'The server had a problem. Try again later.',
}

/**
 * A message for the user. Unknown server codes fall back to the server's own `msg`.
 * @param {unknown} error
 * @returns {string}
 */
export function messageFor(error) {
  if (error instanceof WxAuthError) {
    // A setup mistake worth naming: the server's outbound IP is not on 开发设置 → IP白名单 (see the README).
    if (error.errcode === 40164)
      return 'The server’s IP address is not on this mini program’s IP whitelist (errcode 40164).'
    return MESSAGES[error.code] || error.msg
  }
  return error instanceof Error ? error.message : String(error)
}
