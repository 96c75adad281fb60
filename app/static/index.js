// Home page: the logout button ends the session on the server.
document.getElementById('logout').addEventListener('click', function () {
  fetch('/api/logout', {method: 'POST', credentials: 'same-origin',
                        headers: {'Content-Type': 'application/json'}, body: '{}'})
    .then(function () { location.reload(); });
});
