// Logs in with JSON (never a form post), keeps the CSRF token for the session, goes to the dashboard.
document.getElementById("login").addEventListener("submit", async (event) => {
  event.preventDefault();
  const message = document.getElementById("message");
  message.textContent = "";
  const response = await fetch("/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: document.getElementById("user").value, password: document.getElementById("password").value }),
  });
  const body = await response.json().catch(() => ({}));
  if (response.ok) {
    sessionStorage.setItem("csrf", body.csrf);
    location.href = "/";
  } else {
    message.textContent = body.error || `login failed (${response.status})`;
  }
});
