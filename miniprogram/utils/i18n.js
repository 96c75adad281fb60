// The mini-program's words in English, Simplified and Traditional Chinese, following the
// phone's language (wx.getSystemInfoSync().language: "zh_CN", "zh_TW", "zh_HK", "en", ...).
const TEXT = {
  en: {
    scanTitle: 'Log in on a computer',
    scanHint: 'Open the login page on the computer, then scan the code it shows.',
    scanButton: 'Scan the code',
    myComputers: 'My logged-in computers',
    myProfile: 'My name and avatar',
    couldNotScan: 'Could not scan: {reason}',
    confirmTitle: 'Log in on this computer?',
    confirmTitleApp: 'Log in to {app} on this computer?',
    appLearns: '{app} will learn your name and picture.',
    phoneNeeded: 'This service needs your phone number, verified by WeChat, before you log in.',
    sharePhone: 'Share my phone number',
    checking: 'Checking the code…',
    ip: 'IP address',
    browser: 'Browser',
    time: 'Time',
    ipDiffers: 'This computer is on a different network from your phone. If you did not open the login page yourself, cancel.',
    onlyYours: 'Only confirm a login you started yourself on a site you opened.',
    confirm: 'Confirm login',
    cancel: 'Cancel',
    done: 'Done. The computer is logged in.',
    cancelled: 'Cancelled. The computer was not logged in.',
    browserOn: '{browser} on {system}',
    profileTitle: 'How the computer shows you',
    profileHint: 'While a computer waits for your confirmation it shows this name and avatar.',
    nicknamePlaceholder: 'Your nickname',
    save: 'Save',
    saved: 'Saved.',
    noComputers: 'No computer is logged in as you.',
    loggedIn: 'Logged in',
    lastSeen: 'Last seen',
    logOutComputer: 'Log this computer out',
    logOutComputerQuestion: 'Log this computer out?',
    errors: {
      not_ours: 'This is not a login code of this service.',
      ticket_expired: 'The code has expired. Refresh the login page on the computer and scan again.',
      ticket_cancelled: 'This login was cancelled.',
      ticket_used: 'This code has already been used.',
      ticket_taken: 'Someone else has scanned this code.',
      ticket_not_found: 'This is not a login code of this service.',
      ticket_denied: 'This login was refused: this account may not log in there.',
      phone_declined: 'Without your phone number you cannot log in here.',
      network: 'No connection to the server. Try again.',
      other: 'Something went wrong. Try again.'
    }
  },
  zh_CN: {
    scanTitle: '在电脑上登录',
    scanHint: '在电脑上打开登录页面，然后扫描页面上的二维码。',
    scanButton: '扫一扫',
    myComputers: '我已登录的电脑',
    myProfile: '我的昵称和头像',
    couldNotScan: '无法扫码：{reason}',
    confirmTitle: '在这台电脑上登录？',
    confirmTitleApp: '在这台电脑上登录{app}？',
    appLearns: '{app} 将获得您的昵称和头像。',
    phoneNeeded: '登录前，此服务需要经微信验证的手机号。',
    sharePhone: '提供我的手机号',
    checking: '正在检查二维码…',
    ip: 'IP 地址',
    browser: '浏览器',
    time: '时间',
    ipDiffers: '这台电脑与您的手机不在同一网络。如果登录页面不是您本人打开的，请取消。',
    onlyYours: '请只确认您本人在自己打开的网站上发起的登录。',
    confirm: '确认登录',
    cancel: '取消',
    done: '完成，电脑已登录',
    cancelled: '已取消，电脑未登录',
    browserOn: '{system} 上的 {browser}',
    profileTitle: '电脑上显示的您',
    profileHint: '电脑等待您确认时会显示这个昵称和头像。',
    nicknamePlaceholder: '您的昵称',
    save: '保存',
    saved: '已保存',
    noComputers: '没有以您的身份登录的电脑。',
    loggedIn: '登录时间',
    lastSeen: '最近活动',
    logOutComputer: '让这台电脑退出登录',
    logOutComputerQuestion: '让这台电脑退出登录？',
    errors: {
      not_ours: '这不是本服务的登录二维码',
      ticket_expired: '二维码已过期，请在电脑上刷新登录页面后重新扫码',
      ticket_cancelled: '此次登录已取消',
      ticket_used: '此二维码已被使用',
      ticket_taken: '此二维码已被其他人扫描',
      ticket_not_found: '这不是本服务的登录二维码',
      ticket_denied: '此次登录被拒绝：此账号不能登录那里',
      phone_declined: '不提供手机号就无法在此登录',
      network: '无法连接服务器，请重试',
      other: '出现问题，请重试'
    }
  },
  zh_TW: {
    scanTitle: '在電腦上登入',
    scanHint: '在電腦上開啟登入頁面，然後掃描頁面上的條碼。',
    scanButton: '掃一掃',
    myComputers: '我已登入的電腦',
    myProfile: '我的暱稱和頭像',
    couldNotScan: '無法掃碼：{reason}',
    confirmTitle: '在這台電腦上登入？',
    confirmTitleApp: '在這台電腦上登入{app}？',
    appLearns: '{app} 將取得您的暱稱和頭像。',
    phoneNeeded: '登入前，此服務需要經微信驗證的手機號碼。',
    sharePhone: '提供我的手機號碼',
    checking: '正在檢查條碼…',
    ip: 'IP 位址',
    browser: '瀏覽器',
    time: '時間',
    ipDiffers: '這台電腦與您的手機不在同一網路。如果登入頁面不是您本人開啟的，請取消。',
    onlyYours: '請只確認您本人在自己開啟的網站上發起的登入。',
    confirm: '確認登入',
    cancel: '取消',
    done: '完成，電腦已登入',
    cancelled: '已取消，電腦未登入',
    browserOn: '{system} 上的 {browser}',
    profileTitle: '電腦上顯示的您',
    profileHint: '電腦等待您確認時會顯示這個暱稱和頭像。',
    nicknamePlaceholder: '您的暱稱',
    save: '儲存',
    saved: '已儲存',
    noComputers: '沒有以您的身分登入的電腦。',
    loggedIn: '登入時間',
    lastSeen: '最近活動',
    logOutComputer: '讓這台電腦登出',
    logOutComputerQuestion: '讓這台電腦登出？',
    errors: {
      not_ours: '這不是本服務的登入條碼',
      ticket_expired: '條碼已過期，請在電腦上重新整理登入頁面後重新掃碼',
      ticket_cancelled: '此次登入已取消',
      ticket_used: '此條碼已被使用',
      ticket_taken: '此條碼已被其他人掃描',
      ticket_not_found: '這不是本服務的登入條碼',
      ticket_denied: '此次登入被拒絕：此帳號不能登入那裡',
      phone_declined: '不提供手機號碼就無法在此登入',
      network: '無法連線伺服器，請重試',
      other: '發生問題，請重試'
    }
  }
};

// "zh_CN" / "zh_TW" / "en" from what the phone says; Hong Kong and Macau read Traditional.
function language() {
  let system = 'en';
  try { system = (wx.getSystemInfoSync().language || 'en'); } catch (e) { /* outside WeChat: English */ }
  const tag = system.replace('-', '_').toLowerCase();
  if (/^zh_(tw|hk|mo|hant)/.test(tag)) { return 'zh_TW'; }
  if (/^zh/.test(tag)) { return 'zh_CN'; }
  return 'en';
}

function text() { return TEXT[language()]; }

// The Accept-Language the service answers errors in.
function acceptLanguage() {
  return {en: 'en', zh_CN: 'zh-CN', zh_TW: 'zh-TW'}[language()];
}

// What to tell a person about an ApiError: our words for known codes, else the server's message.
function explain(err) {
  const t = text();
  return t.errors[err && err.code] || (err && err.status ? err.message : t.errors.other) || t.errors.other;
}

function fill(template, values) {
  return template.replace(/\{(\w+)\}/g, (_, key) => values[key]);
}

module.exports = {TEXT, language, text, acceptLanguage, explain, fill};
