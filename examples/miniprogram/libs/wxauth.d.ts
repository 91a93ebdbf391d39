/**
 * wxauth client for WeChat Mini Programs: wx.login → POST /auth/login → skey in wx storage, then
 * every request carries the skey. A rejected skey triggers one shared re-login and one retry.
 * No dependencies; uses only wx.login, wx.request and the wx storage calls.
 * Written in ES2017 syntax so older mini program runtimes can run the build as is.
 */
export interface WxRequestSuccess {
    statusCode: number;
    data: unknown;
    header: Record<string, string>;
}
export interface WxFail {
    errMsg: string;
}
export interface WxRequestOptions {
    url: string;
    method?: string;
    data?: unknown;
    header?: Record<string, string>;
    timeout?: number;
    success(result: WxRequestSuccess): void;
    fail(error: WxFail): void;
}
/** The part of the mini program's `wx` this client uses. */
export interface WxLike {
    login(options: {
        timeout?: number;
        success(result: {
            code: string;
        }): void;
        fail(error: WxFail): void;
    }): void;
    request(options: WxRequestOptions): unknown;
    getStorageSync(key: string): unknown;
    setStorageSync(key: string, value: string): void;
    removeStorageSync(key: string): void;
}
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS';
export interface RequestOptions {
    /** A path on baseUrl, e.g. "/notes". */
    url: string;
    method?: HttpMethod;
    data?: unknown;
    header?: Record<string, string>;
}
export interface Response<T = unknown> {
    statusCode: number;
    data: T;
    header: Record<string, string>;
}
export interface User {
    id: number;
    openid: string;
    unionid: string | null;
    createdAt: string;
}
export interface LoginResult {
    skey: string;
    expiresAt: string;
    user: User;
}
export interface WxAuthOptions {
    /** The wxauth server, e.g. "https://api.example.com". */
    baseUrl: string;
    /** Defaults to the mini program's global `wx`. */
    wx?: WxLike;
    /** wx storage key holding the skey. Default "wxauth:skey". */
    storageKey?: string;
    /** Header carrying the skey: "skey" (default) or "Authorization" (sent as `Bearer <skey>`). */
    headerName?: string;
    /** ms for wx.login and each wx.request. Default 10000. */
    timeout?: number;
    /** Called once per failed login, with the error every waiting caller receives. */
    onLoginFailed?: (error: WxAuthError) => void;
}
/** The browser that asked for a web login, as the server saw it when the browser created the code. */
export interface WebLoginBrowser {
    /** The browser's IP address; null when the server could not tell. */
    ip: string | null;
    userAgent: string;
    /** When the browser created the code (ISO 8601). */
    createdAt: string;
}
export interface WebLoginScan {
    browser: WebLoginBrowser;
    /** When the code expires (ISO 8601): confirm before then. */
    expiresAt: string;
}
/**
 * Web login: a web page shows a mini program code; the user scans it, and this mini program (logged in)
 * confirms or denies. The code opens your web-login page with the ticket as its `scene`:
 *
 * ```js
 * Page({
 *   async onLoad(query) {
 *     this.scene = decodeURIComponent(query.scene) // WeChat hands the scene over URI-encoded
 *     const { browser, expiresAt } = await auth.webLogin.scan(this.scene)
 *     this.setData({ browser, expiresAt }) // show it: the user checks the IP and time are theirs
 *   },
 *   confirm() { return auth.webLogin.confirm(this.scene) },
 *   deny() { return auth.webLogin.deny(this.scene) },
 * })
 * ```
 *
 * Each call sends the skey (logging in first or again when needed, as `request` does). A failure rejects
 * with a `WxAuthError`: TICKET_INVALID (unknown or used up), TICKET_EXPIRED, TICKET_CLAIMED (another
 * user scanned it first), or any other server or NETWORK error.
 */
export interface WebLogin {
    /** Tells the server this user scanned the code (the browser shows "scanned"); resolves with the browser to show. */
    scan(scene: string): Promise<WebLoginScan>;
    /** Signs the browser in as this user. Call `scan` first and show its browser: the user must see which browser they sign in. */
    confirm(scene: string): Promise<void>;
    /** Refuses: the browser shows "denied" and must ask for a new code. */
    deny(scene: string): Promise<void>;
}
export interface WxAuth {
    /** Logs in now (sharing a login already in flight) and stores the skey. */
    login(): Promise<LoginResult>;
    /** Sends a request with the skey, logging in first or again when needed. Resolves with any HTTP status. */
    request<T = unknown>(options: RequestOptions): Promise<Response<T>>;
    /** Ends the session on the server and forgets the skey (forgotten even if the server cannot be reached). */
    logout(): Promise<void>;
    /** The stored skey, or null. */
    skey(): string | null;
    /** Scan-to-login for web pages: scan, then confirm or deny a browser's code. */
    webLogin: WebLogin;
}
/**
 * Why a login or request failed. `code` and `msg` are the server's when it answered (e.g.
 * WECHAT_CODE_INVALID); otherwise WX_LOGIN_FAILED (wx.login failed), NETWORK (wx.request failed)
 * or BAD_RESPONSE (the server answered something that is not wxauth's).
 */
export declare class WxAuthError extends Error {
    readonly code: string;
    readonly msg: string;
    readonly statusCode: number | null;
    readonly errcode: number | null;
    constructor(code: string, msg: string, statusCode?: number | null, errcode?: number | null);
}
export declare function createWxAuth(options: WxAuthOptions): WxAuth;
