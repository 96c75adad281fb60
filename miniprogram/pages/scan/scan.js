// Home: scan the PC's login QR with the camera and go on to the confirm screen.
const api = require('../../utils/api.js');
const i18n = require('../../utils/i18n.js');

Page({
  data: {t: {}, error: ''},

  onLoad() { this.setData({t: i18n.text()}); },

  onScan() {
    this.setData({error: ''});
    wx.scanCode({
      onlyFromCamera: true,
      scanType: ['qrCode'],
      success: (res) => {
        const ticketId = api.ticketIdFromQr(res.result);
        if (!ticketId) {
          // Not our login code: never follow it (it could send the person anywhere).
          this.setData({error: i18n.text().errors.not_ours});
          return;
        }
        wx.navigateTo({url: '/pages/login/confirm?ticket=' + encodeURIComponent(ticketId)});
      },
      fail: (err) => {
        if (!/cancel/.test(err.errMsg || '')) { this.setData({error: i18n.fill(i18n.text().couldNotScan, {reason: err.errMsg})}); }
      }
    });
  }
});
