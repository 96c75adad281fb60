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
  network: 'No connection to the server. Try again.'
};

function explain(err) {
  return MESSAGES[err.code] || err.message || 'Something went wrong.';
}

Page({
  data: {loading: true, pc: null, app: null, browser: '', time: '', busy: false, done: '', error: ''},

  onLoad(options) {
    this.ticketId = api.ticketIdFromOptions(options);
    if (!this.ticketId) {
      this.setData({loading: false, error: 'This is not a login code of this service.'});
      return;
    }
    api.scan(this.ticketId).then((res) => {
      this.setData({
        loading: false,
        pc: res.pc,
        app: res.app || null,
        browser: api.describeBrowser(res.pc.user_agent),
        time: new Date(res.pc.created_at).toLocaleString()
      });
    }).catch((err) => this.setData({loading: false, error: explain(err)}));
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
