// The OAuth 2.0 callback page: tell the designer's window, then close when it all went well.
const status = document.body.dataset.status;
if (window.opener && !window.opener.closed) {
  window.opener.postMessage({ type: "intercom-oauth", status }, window.location.origin);
  if (status === "saved") setTimeout(() => window.close(), 1500);
}
