// Home: scan the PC's login QR with the camera and go on to the confirm screen.
const api = require('../../utils/api.js');

Page({
  data: {error: ''},

  onScan() {
    this.setData({error: ''});
    wx.scanCode({
      onlyFromCamera: true,
      scanType: ['qrCode'],
      success: (res) => {
        const ticketId = api.ticketIdFromQr(res.result);
        if (!ticketId) {
          // Not our login code: never follow it (it could send the person anywhere).
          this.setData({error: 'This is not a login code of this service.'});
          return;
        }
        wx.navigateTo({url: '/pages/login/confirm?ticket=' + encodeURIComponent(ticketId)});
      },
      fail: (err) => {
        if (!/cancel/.test(err.errMsg || '')) { this.setData({error: 'Could not scan: ' + err.errMsg}); }
      }
    });
  }
});
