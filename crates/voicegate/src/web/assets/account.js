// The Account page: the user's named tokens and API keys (a new one's secret shown once, the
// list, revoke), and for administrators the peers' state, the users and the OAuth clients.
'use strict';
(function () {
  const { api, act, make, el, show } = VG;
  const date = (seconds) => (seconds ? new Date(seconds * 1000).toLocaleString() : 'never');

  function revokeButton(label, work, errorId) {
    const button = make('button', { type: 'button', class: 'quiet' }, 'Revoke');
    button.setAttribute('aria-label', 'Revoke ' + label);
    button.addEventListener('click', () => act(errorId, work, button));
    return button;
  }

  async function loadTokens() {
    const answer = await api('GET', '/v1/account/tokens');
    el('tokens').replaceChildren(...answer.tokens.map((token) => make('li', { id: 'token-' + token.alias },
      make('span', {}, token.alias + ' — ' + token.scopes.join(' ') + ' — expires ' + date(token.expires_at)),
      revokeButton(token.alias, async () => {
        await api('DELETE', '/v1/account/tokens/' + encodeURIComponent(token.alias));
        el('token-secret').hidden = true;
        await loadTokens();
      }, 'token-error'))));
    if (!answer.tokens.length) el('tokens').append(make('li', {}, 'No named tokens.'));
  }

  async function loadKeys() {
    const answer = await api('GET', '/v1/account/apikeys');
    el('keys').replaceChildren(...answer.api_keys.map((key) => make('li', { id: 'key-' + key.api_key },
      make('span', {}, key.api_key + ' — ' + key.scopes.join(' ') + ' — made ' + date(key.created_at)),
      revokeButton(key.api_key, async () => {
        await api('DELETE', '/v1/account/apikeys/' + encodeURIComponent(key.api_key));
        el('key-secret').hidden = true;
        await loadKeys();
      }, 'key-error'))));
    if (!answer.api_keys.length) el('keys').append(make('li', {}, 'No API keys.'));
  }

  el('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    act('token-error', async () => {
      const body = { alias: el('token-alias').value.trim() };
      const scopes = el('token-scopes').value.trim();
      if (scopes) body.scopes = scopes;
      const days = el('token-days').value;
      if (days) body.expires_in_days = Number(days);
      const made = await api('POST', '/v1/account/tokens', body);
      show('token-value', made.token);
      el('token-secret').hidden = false;
      event.target.reset();
      await loadTokens();
    }, event.submitter || null);
  });

  el('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    act('key-error', async () => {
      const scopes = el('key-scopes').value.trim();
      const made = await api('POST', '/v1/account/apikeys', scopes ? { scopes } : {});
      show('key-id', made.api_key);
      show('key-value', made.secret);
      el('key-secret').hidden = false;
      event.target.reset();
      await loadKeys();
    }, event.submitter || null);
  });

  async function loadAdmin() {
    let peers;
    try {
      peers = await api('GET', '/v1/admin/peers');
    } catch (error) {
      if (error.status === 403) return; // not an administrator: the section stays hidden
      throw error;
    }
    el('admin').hidden = false;
    el('peers').replaceChildren(...peers.peers.map((peer) => make('li', {},
      make('span', {}, peer.name + ' (' + peer.at + ')' + (peer.fix ? ': ' + peer.fix : '')),
      make('span', { class: 'badge ' + (peer.status === 'ok' ? 'on' : peer.status === 'down' ? 'off' : '') }, peer.status))));
    const users = await api('GET', '/v1/admin/users');
    el('users').replaceChildren(...users.users.map((user) => make('li', {},
      make('span', {}, user.name + ' (' + user.role + (user.active ? '' : ', disabled') + ')'),
      make('span', {}, user.source))));
    const clients = await api('GET', '/v1/admin/clients');
    el('clients').replaceChildren(...clients.clients.map((client) => make('li', {},
      make('span', {}, client.name + ' — ' + client.client_id + ' — for ' + client.owner),
      make('span', {}, client.grants.join(', ')))));
    if (!clients.clients.length) el('clients').append(make('li', {}, 'No OAuth clients.'));
  }

  act('token-error', loadTokens);
  act('key-error', loadKeys);
  act('admin-error', loadAdmin);
})();
