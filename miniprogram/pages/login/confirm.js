// Where the PC is (IP, browser, time) with Confirm and Cancel.
// Opened three ways: from the mini-program code (options.scene = the ticket id),
// by WeChat's own scanner from the ordinary-link QR (options.q = the URL-encoded
// "<baseUrl>/qr/<ticket_id>"), or from our scan page (options.ticket).
// Every word follows the phone's language (utils/i18n.js).
const api = require('../../utils/api.js');
const i18n = require('../../utils/i18n.js');

const explain = i18n.explain;

Page({
  data: {t: {}, title: '', appNote: '', loading: true, pc: null, app: null, browser: '', time: '', busy: false,
         done: '', error: '', askPhone: false},

  onLoad(options) {
    const t = i18n.text();
    this.setData({t: t, title: t.confirmTitle});
    this.ticketId = api.ticketIdFromOptions(options);
    if (!this.ticketId) {
      this.setData({loading: false, error: t.errors.not_ours});
      return;
    }
    this.scan();
  },

  scan() {
    const t = i18n.text();
    return api.scan(this.ticketId).then((res) => {
      this.setData({
        loading: false,
        askPhone: false,
        pc: res.pc,
        app: res.app || null,
        title: res.app ? i18n.fill(t.confirmTitleApp, {app: res.app.name}) : t.confirmTitle,
        appNote: res.app && !res.app.trusted ? i18n.fill(t.appLearns, {app: res.app.name}) : '',
        browser: api.describeBrowser(res.pc.user_agent),
        time: new Date(res.pc.created_at).toLocaleString()
      });
    }).catch((err) => {
      // The service wants the verified phone number first (REQUIRE_PHONE, or an
      // allowlist of numbers): show WeChat's phone-number button, then scan again.
      const askPhone = err.code === 'phone_required';
      this.setData({loading: false, askPhone: askPhone, error: askPhone ? '' : explain(err)});
    });
  },

  // <button open-type="getPhoneNumber">: e.detail.code is single-use, for our server only.
  onPhoneNumber(e) {
    const code = e && e.detail && e.detail.code;
    this.setData({busy: true, error: ''});
    return api.sharePhone(code)
      .then(() => this.scan())
      .then(() => this.setData({busy: false}))
      .catch((err) => this.setData({busy: false, error: explain(err)}));
  },

  decide(action, doneText) {
    this.setData({busy: true, error: ''});
    api[action](this.ticketId).then(() => {
      this.setData({busy: false, done: doneText});
    }).catch((err) => this.setData({busy: false, error: explain(err)}));
  },

  onConfirm() { this.decide('confirm', i18n.text().done); },
  onCancel() { this.decide('cancel', i18n.text().cancelled); }
});
