// What every console page shares: API calls with the session's CSRF token, errors shown in
// words next to what caused them, element building without HTML strings, downloads, and the
// live events stream (GET /v1/events read with fetch, so that it carries the CSRF header).
'use strict';
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  /** An API error: its HTTP status, the API's code and its explanation. */
  class ApiError extends Error {
    constructor(status, code, detail) {
      super(detail);
      this.status = status;
      this.code = code;
    }
  }

  function el(id) {
    return document.getElementById(id);
  }

  /** Puts text (or nothing) in the element with this id. */
  function show(id, text) {
    const target = el(id);
    if (target) target.textContent = text || '';
  }

  function signIn() {
    location.assign('/console/sign-in?next=' + encodeURIComponent(location.pathname));
  }

  /** Calls the API: JSON in and out; a failure throws an ApiError saying what went wrong. */
  async function api(method, path, body, options) {
    const headers = { 'X-CSRF-Token': csrf, Accept: 'application/json' };
    const init = { method, headers, credentials: 'same-origin' };
    if (body instanceof FormData) {
      init.body = body; // multipart: the browser writes the boundary
    } else if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (_) {
      throw new ApiError(0, 'network', 'The server could not be reached; check the connection.');
    }
    if (response.status === 401) {
      signIn();
      throw new ApiError(401, 'signed_out', 'Your session has ended; sign in again.');
    }
    if (!response.ok) {
      let detail = 'The server answered ' + response.status + '.';
      let code = '';
      try {
        const answer = await response.json();
        detail = answer.detail || answer.message || answer.error_description || detail;
        code = answer.error || '';
      } catch (_) { /* not JSON: keep the status */ }
      throw new ApiError(response.status, code, detail);
    }
    if (options && options.blob) return response.blob();
    const type = response.headers.get('content-type') || '';
    return type.includes('json') ? response.json() : response.text();
  }

  /** Runs work, showing its error in the element errorId (emptied first); the button, if
   * any, is disabled meanwhile. */
  async function act(errorId, work, button) {
    show(errorId, '');
    if (button) button.disabled = true;
    try {
      return await work();
    } catch (error) {
      show(errorId, error.message || String(error));
      return undefined;
    } finally {
      if (button) button.disabled = false;
    }
  }

  /** An element with attributes and children (text children are text, never markup). */
  function make(tag, attributes, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === false || value === null || value === undefined) continue;
      if (name === 'checked' || name === 'value') element[name] = value;
      else element.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      element.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return element;
  }

  /** Fetches path with the session and saves it as filename. */
  async function download(path, filename) {
    const blob = await api('GET', path, undefined, { blob: true });
    const url = URL.createObjectURL(blob);
    const link = make('a', { href: url, download: filename });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 30000);
  }

  function dispatch(block, onEvent) {
    let name = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) name = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
    }
    if (!data.length) return;
    let parsed = data.join('\n');
    try {
      parsed = JSON.parse(parsed);
    } catch (_) { /* plain text */ }
    try {
      onEvent(name, parsed);
    } catch (error) {
      console.error(error);
    }
  }

  /** Follows the events of these topic prefixes (comma-separated), calling onEvent(name,
   * data); onOpen runs at every (re)connection, so a page can read the state it missed. The
   * element #live tells the connection's state. */
  function events(topics, onEvent, onOpen) {
    const live = el('live');
    const say = (text) => { if (live) live.textContent = text; };
    let delay = 1000;
    (async function follow() {
      for (;;) {
        try {
          const response = await fetch('/v1/events?topics=' + encodeURIComponent(topics), {
            headers: { 'X-CSRF-Token': csrf, Accept: 'text/event-stream' },
            credentials: 'same-origin',
          });
          if (response.status === 401) {
            signIn();
            return;
          }
          if (!response.ok) throw new Error('events: ' + response.status);
          say('connected');
          delay = 1000;
          if (onOpen) onOpen();
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += value.replace(/\r\n?/g, '\n');
            let end;
            while ((end = buffer.indexOf('\n\n')) >= 0) {
              dispatch(buffer.slice(0, end), onEvent);
              buffer = buffer.slice(end + 2);
            }
          }
        } catch (_) { /* reconnect below */ }
        say('reconnecting…');
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 15000);
      }
    })();
  }

  /** m:ss of whole seconds. */
  function clock(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    return Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
  }

  window.VG = { api, act, events, make, el, show, download, clock, ApiError };
})();
