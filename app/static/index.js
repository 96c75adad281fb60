// Home page: the logout buttons end the session (or every session of the person) on the server.
function logOut(everywhere) {
  fetch('/api/logout', {method: 'POST', credentials: 'same-origin',
                        headers: {'Content-Type': 'application/json'},
                        body: JSON.stringify({everywhere: everywhere})})
    .then(function () { location.reload(); });
}
document.getElementById('logout').addEventListener('click', function () { logOut(false); });
document.getElementById('logout-everywhere').addEventListener('click', function () { logOut(true); });
