// The PCs logged in as this user (GET /api/mp/sessions); each can be ended (DELETE).
const api = require('../../utils/api.js');
const i18n = require('../../utils/i18n.js');

Page({
  data: {t: {}, loading: true, sessions: [], error: ''},

  onShow() {
    this.setData({t: i18n.text()});
    this.load();
  },
  onPullDownRefresh() { this.load().then(() => wx.stopPullDownRefresh()); },

  load() {
    this.setData({error: ''});
    return api.sessions().then((sessions) => {
      this.setData({
        loading: false,
        sessions: sessions.map((s) => ({
          id: s.id,
          ip: s.ip,
          browser: api.describeBrowser(s.user_agent),
          created: new Date(s.created_at).toLocaleString(),
          lastSeen: new Date(s.last_seen_at).toLocaleString()
        }))
      });
    }).catch((err) => this.setData({loading: false, error: i18n.explain(err)}));
  },

  onEnd(e) {
    const id = e.currentTarget.dataset.id;
    wx.showModal({
      title: i18n.text().logOutComputerQuestion,
      success: (res) => {
        if (!res.confirm) { return; }
        api.endSession(id).then(() => this.load()).catch((err) => this.setData({error: i18n.explain(err)}));
      }
    });
  }
});
