// The Assistant (OVOS) page: speak a sentence, stop, mute and unmute the microphone, the
// volume, an utterance sent as if heard, and a live log of the bus messages the events hub
// relays, beside the state of voicegate's bus connection.
'use strict';
(function () {
  const { api, act, events, make, el, show } = VG;
  const LOG_LENGTH = 100;

  async function busState() {
    try {
      const answer = await api('GET', '/v1/network/websocket');
      show('bus', answer.listening ? 'connected' : 'not connected');
    } catch (error) {
      show('bus', 'unknown (' + error.message + ')');
    }
  }

  async function microphone() {
    const answer = await api('GET', '/v1/voice/microphone');
    show('mic', answer.muted ? 'muted' : 'listening');
  }

  async function volume() {
    const answer = await api('GET', '/v1/voice/volume');
    el('ovos-volume').value = Math.round(answer.percent);
    show('ovos-volume-value', String(Math.round(answer.percent)));
  }

  function log(name, data) {
    const list = el('log');
    const text = typeof data === 'string' ? data : JSON.stringify(data.data !== undefined ? data.data : data);
    list.prepend(make('li', {}, make('strong', {}, name), ' ', make('code', {}, text)));
    while (list.children.length > LOG_LENGTH) list.lastElementChild.remove();
    if (name === 'mycroft.mic.mute') show('mic', 'muted');
    if (name === 'mycroft.mic.unmute') show('mic', 'listening');
  }

  function submit(formId, errorId, work) {
    el(formId).addEventListener('submit', (event) => {
      event.preventDefault();
      act(errorId, work, event.submitter || null);
    });
  }

  submit('speak-form', 'speak-error', () => api('POST', '/v1/voice/speech', { utterance: el('speak-text').value }));
  el('speak-stop').addEventListener('click', () => act('speak-error', () => api('DELETE', '/v1/voice/speech')));
  submit('utterance-form', 'utterance-error', () =>
    api('POST', '/v1/voice/utterance', { utterances: [el('utterance-text').value] }));
  el('mute').addEventListener('click', () => act('mic-error', async () => {
    await api('PUT', '/v1/voice/microphone/mute');
    show('mic', 'muted');
  }));
  el('unmute').addEventListener('click', () => act('mic-error', async () => {
    await api('PUT', '/v1/voice/microphone/unmute');
    show('mic', 'listening');
  }));
  const slider = el('ovos-volume');
  slider.addEventListener('input', () => show('ovos-volume-value', slider.value));
  slider.addEventListener('change', () => act('mic-error',
    () => api('PUT', '/v1/voice/volume', { percent: Number(slider.value) })));

  // The bus connection has no event of its own: it is read when the log (re)connects and
  // every 15 s.
  busState();
  setInterval(busState, 15000);
  act('mic-error', microphone);
  act('mic-error', volume);
  events('ovos', log, busState);
})();
