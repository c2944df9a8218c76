// The page address. A link may carry ?token=...: the server answered it with an HttpOnly cookie that
// the page's requests now carry, so the token is taken out of the address bar (history, screenshots).

/** Remove ``token`` from the address shown, without reloading. Returns whether there was one. */
export function forgetTokenInAddress(location = window.location, history = window.history) {
  const url = new URL(location.href);
  if (!url.searchParams.has('token')) return false;
  url.searchParams.delete('token');
  history.replaceState(history.state, '', url.pathname + url.search + url.hash);
  return true;
}
