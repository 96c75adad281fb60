// Where the PC is (IP, browser, time) with Confirm and Cancel.
// Opened three ways: from the mini-program code (options.scene = the ticket id),
// by WeChat's own scanner from the ordinary-link QR (options.q = the URL-encoded
// "<baseUrl>/qr/<ticket_id>"), or from our scan page (options.ticket).
const api = require('../../utils/api.js');

const MESSAGES = {
  ticket_expired: 'The code has expired. Refresh the login page on the computer and scan again.',
  ticket_cancelled: 'This login was cancelled.',
  ticket_used: 'This code has already been used.',
  ticket_taken: 'Someone else has scanned this code.',
  ticket_not_found: 'This login code is not known.',
  ticket_denied: 'This login was refused: this account may not log in there.',
  phone_declined: 'Without your phone number you cannot log in here.',
  network: 'No connection to the server. Try again.'
};

function explain(err) {
  // access_denied carries the site's own words ("this account may not log in to <site>").
  return MESSAGES[err.code] || err.message || 'Something went wrong.';
}

Page({
  data: {loading: true, pc: null, app: null, browser: '', time: '', busy: false, done: '', error: '',
         askPhone: false},

  onLoad(options) {
    this.ticketId = api.ticketIdFromOptions(options);
    if (!this.ticketId) {
      this.setData({loading: false, error: 'This is not a login code of this service.'});
      return;
    }
    this.scan();
  },

  scan() {
    return api.scan(this.ticketId).then((res) => {
      this.setData({
        loading: false,
        askPhone: false,
        pc: res.pc,
        app: res.app || null,
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

  onConfirm() { this.decide('confirm', 'Done. The computer is logged in.'); },
  onCancel() { this.decide('cancel', 'Cancelled. The computer was not logged in.'); }
});
