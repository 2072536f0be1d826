// URLs as they may appear in messages and logs: never with their userinfo
// (`user:password@`, as GOVC_URL allows), nor with their query string (lease and
// datastore URLs can carry tokens there). Every place that puts a URL, or a
// message that may quote one (an undici or fetch error), into text a person or a
// log will read goes through here.

/** scheme://host[:port]/path of `url`: no userinfo, no query, no fragment. */
export function redactUrl(url: string | URL): string {
  try {
    const u = typeof url === 'string' ? new URL(url) : url;
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return typeof url === 'string' ? redactUserinfo(url) : '<invalid url>';
  }
}

// scheme://userinfo@ — userinfo is everything up to the last @ before the host
// ends (a password may hold an unescaped @, ':' or '#').
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?'"<>]*@/gi;

/** `text` with the userinfo of every URL in it replaced by nothing. */
export function redactUserinfo(text: string): string {
  return text.replace(USERINFO, '$1');
}

/** The URL itself without its userinfo (query and path kept), for URLs that must stay usable. */
export function withoutUserinfo(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return redactUserinfo(url);
  }
}

// A URL's query or fragment in free text, up to where the URL ends.
const URL_QUERY = /\b([a-z][a-z0-9+.-]*:\/\/[^\s?#'"<>]*)[?#][^\s'"<>]*/gi;

/** `text` with every URL in it cut to scheme://host/path (no userinfo, query or fragment): for log lines. */
export function redactUrlsInText(text: string): string {
  return redactUserinfo(text).replace(URL_QUERY, '$1');
}
