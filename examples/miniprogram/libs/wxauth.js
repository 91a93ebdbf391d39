// client/src/wxauth.ts
class WxAuthError extends Error {
  constructor(code, msg, statusCode = null, errcode = null) {
    super(`${code}: ${msg}`);
    this.name = "WxAuthError";
    this.code = code;
    this.msg = msg;
    this.statusCode = statusCode;
    this.errcode = errcode;
  }
}
var SKEY_REJECTED = ["SKEY_MISSING", "SKEY_INVALID"];
function isObject(value) {
  return typeof value === "object" && value !== null;
}
function isLoginResult(value) {
  return isObject(value) && typeof value.skey === "string" && value.skey !== "" && isObject(value.user);
}
function isWebLoginScan(value) {
  return isObject(value) && typeof value.expiresAt === "string" && isObject(value.browser) && typeof value.browser.userAgent === "string" && typeof value.browser.createdAt === "string" && (value.browser.ip === null || typeof value.browser.ip === "string");
}
function isSkeyRejection(response) {
  const data = response.data;
  return response.statusCode === 401 && isObject(data) && SKEY_REJECTED.indexOf(String(data.code)) !== -1;
}
function errorFromResponse(response, what = "login") {
  const data = response.data;
  if (isObject(data) && typeof data.code === "string" && typeof data.msg === "string") {
    const errcode = typeof data.errcode === "number" ? data.errcode : null;
    return new WxAuthError(data.code, data.msg, response.statusCode, errcode);
  }
  return new WxAuthError("BAD_RESPONSE", `${what} answered HTTP ${response.statusCode}`, response.statusCode);
}
function defaultWx() {
  if (typeof wx === "undefined")
    throw new Error("wxauth: no global wx; pass { wx } to createWxAuth");
  return wx;
}
function createWxAuth(options) {
  const wx2 = options.wx || defaultWx();
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const storageKey = options.storageKey || "wxauth:skey";
  const headerName = options.headerName || "skey";
  const timeout = options.timeout || 1e4;
  const bearer = headerName.toLowerCase() === "authorization";
  let loginInFlight = null;
  function storedSkey() {
    const value = wx2.getStorageSync(storageKey);
    return typeof value === "string" && value !== "" ? value : null;
  }
  function send(request, skey) {
    const header = Object.assign({}, request.header);
    if (skey)
      header[headerName] = bearer ? `Bearer ${skey}` : skey;
    const path = request.url.charAt(0) === "/" ? request.url : `/${request.url}`;
    return new Promise((resolve, reject) => {
      wx2.request({
        url: baseUrl + path,
        method: request.method || "GET",
        data: request.data,
        header,
        timeout,
        success: (result) => resolve({ statusCode: result.statusCode, data: result.data, header: result.header }),
        fail: (error) => reject(new WxAuthError("NETWORK", error.errMsg))
      });
    });
  }
  function wxLoginCode() {
    return new Promise((resolve, reject) => {
      wx2.login({
        timeout,
        success: (result) => resolve(result.code),
        fail: (error) => reject(new WxAuthError("WX_LOGIN_FAILED", error.errMsg))
      });
    });
  }
  async function loginOnce() {
    try {
      const code = await wxLoginCode();
      const response = await send({ url: "/auth/login", method: "POST", data: { code } }, null);
      if (response.statusCode !== 200 || !isLoginResult(response.data))
        throw errorFromResponse(response);
      wx2.setStorageSync(storageKey, response.data.skey);
      return response.data;
    } catch (caught) {
      const error = caught instanceof WxAuthError ? caught : new WxAuthError("WX_LOGIN_FAILED", String(caught));
      if (options.onLoginFailed)
        options.onLoginFailed(error);
      throw error;
    }
  }
  function login() {
    if (!loginInFlight) {
      const done = () => {
        loginInFlight = null;
      };
      loginInFlight = loginOnce();
      loginInFlight.then(done, done);
    }
    return loginInFlight;
  }
  async function skeyAfterRejection(rejected) {
    const current = storedSkey();
    if (current && current !== rejected)
      return current;
    if (current === rejected)
      wx2.removeStorageSync(storageKey);
    return (await login()).skey;
  }
  async function request(req) {
    const skey = storedSkey() || (await login()).skey;
    const first = await send(req, skey);
    if (!isSkeyRejection(first))
      return first;
    const retried = await send(req, await skeyAfterRejection(skey));
    return retried;
  }
  async function logout() {
    const skey = storedSkey();
    if (!skey)
      return;
    wx2.removeStorageSync(storageKey);
    await send({ url: "/auth/logout", method: "POST" }, skey);
  }
  async function webLoginCall(scene, action, expected) {
    if (typeof scene !== "string" || scene === "")
      throw new WxAuthError("TICKET_INVALID", "no scene: open this page from the code");
    const url = `/web/login/${encodeURIComponent(scene)}/${action}`;
    const response = await request({ url, method: "POST" });
    if (response.statusCode !== expected)
      throw errorFromResponse(response, `web login ${action}`);
    return response.data;
  }
  const webLogin = {
    async scan(scene) {
      const data = await webLoginCall(scene, "scan", 200);
      if (!isWebLoginScan(data))
        throw new WxAuthError("BAD_RESPONSE", "web login scan answered an unexpected body", 200);
      return data;
    },
    async confirm(scene) {
      await webLoginCall(scene, "confirm", 204);
    },
    async deny(scene) {
      await webLoginCall(scene, "deny", 204);
    }
  };
  return { login, request, logout, skey: storedSkey, webLogin };
}
export {
  WxAuthError,
  createWxAuth
};
