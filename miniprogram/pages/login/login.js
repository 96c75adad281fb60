// Sign in (wx.login -> POST /api/mp/login) and set the name and avatar the PC shows.
// chooseAvatar returns a temporary local file: it is uploaded to your own storage
// (config.avatarUploadUrl) and only the resulting https URL is sent to the service.
const api = require('../../utils/api.js');
const i18n = require('../../utils/i18n.js');

Page({
  data: {t: {}, nickname: '', avatarPreview: '', busy: false, saved: false, error: ''},

  onLoad() {
    this.setData({t: i18n.text()});
    api.ensureLogin().then((user) => {
      if (user) { this.setData({nickname: user.nickname || '', avatarPreview: user.avatar_url || ''}); }
    }).catch((err) => this.setData({error: i18n.explain(err)}));
  },

  onChooseAvatar(e) {
    this.tempAvatar = e.detail.avatarUrl;
    this.setData({avatarPreview: this.tempAvatar, saved: false});
  },

  onNickname(e) {
    this.setData({nickname: e.detail.value, saved: false});
  },

  onSave() {
    this.setData({busy: true, error: ''});
    const upload = this.tempAvatar ? api.uploadAvatar(this.tempAvatar) : Promise.resolve(null);
    upload.then((avatarUrl) => api.updateProfile({nickname: this.data.nickname.trim(), avatarUrl: avatarUrl}))
      .then(() => {
        this.tempAvatar = null;
        this.setData({busy: false, saved: true});
      })
      .catch((err) => this.setData({busy: false, error: i18n.explain(err)}));
  }
});
