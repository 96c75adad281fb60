// Where this mini-program's server lives. Point it at your deployment of the service
// (https, and listed under "request legal domain" in the mini-program's admin console).
module.exports = {
  baseUrl: 'https://login.example.com',
  // Your own storage for avatars: an https endpoint that takes a multipart upload
  // (field "file") and answers {"url": "https://..."}. Empty: avatars are not sent.
  // chooseAvatar gives only a temporary local file; the service accepts https URLs only.
  avatarUploadUrl: ''
};
