// The user's phone number: <button open-type="getPhoneNumber"> gives a one-time code, the server trades it with
// WeChat (POST /wechat/phone) and answers the number. Two requirements come from WeChat, not from wxauth:
// - a verified mini program of an organisation (企业/组织, 已认证): personal mini programs have no getPhoneNumber;
// - the user's consent to your privacy guide (《小程序用户隐私保护指引》, filled in under 设置 → 服务内容声明 →
//   用户隐私保护指引 in the admin console, declaring the phone number). Since 2023-10-17 WeChat refuses every
//   privacy API until the user agrees. The button below is also an agreePrivacyAuthorization button: its tap
//   is the user's consent, so the text next to it must name the guide and let the user read it.
import { phoneNumber } from '../../utils/api.js'
import { messageFor } from '../../utils/errors.js'

Page({
  data: {
    /** ready | loading | done | error */
    state: 'ready',
    /** true while the user has not agreed to this version of the privacy guide */
    needsConsent: false,
    privacyContractName: '《用户隐私保护指引》',
    /** @type {import('../../utils/api.js').PhoneNumber | null} */
    phone: null,
    error: '',
  },

  onLoad() {
    // Base library older than 2.32.3: no privacy API; WeChat asks for consent by itself if it must.
    if (!wx.canIUse('getPrivacySetting')) return
    wx.getPrivacySetting({
      success: (result) => {
        this.setData({
          needsConsent: result.needAuthorization,
          privacyContractName: result.privacyContractName || this.data.privacyContractName,
        })
      },
      fail: (error) => console.warn('getPrivacySetting failed', error.errMsg),
    })
  },

  openPrivacyContract() {
    wx.openPrivacyContract({ fail: () => wx.showToast({ title: 'Cannot open the guide', icon: 'none' }) })
  },

  onAgreePrivacy() {
    this.setData({ needsConsent: false })
  },

  /** @param {WechatMiniprogram.ButtonGetPhoneNumber} event */
  async onGetPhoneNumber(event) {
    const { code, errMsg } = event.detail
    if (!code) {
      // "getPhoneNumber:fail user deny" when the user declined; "… no permission" for a personal or unverified
      // mini program; "… privacy permission is not authorized" without consent to the privacy guide.
      const declined = /deny|cancel/.test(errMsg)
      this.setData({ state: 'error', error: declined ? 'You did not share your phone number.' : errMsg })
      return
    }
    this.setData({ state: 'loading', error: '' })
    try {
      // The code works once, for this user, for a few minutes: send it straight away.
      const phone = await phoneNumber(code)
      this.setData({ state: 'done', phone })
    } catch (error) {
      this.setData({ state: 'error', error: messageFor(error) })
    }
  },
})
