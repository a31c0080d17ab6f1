// The Voices page: try any voice with pitch and rate (played in the page), record an account's
// sentences from the microphone (raw samples encoded to WAV here, each take checked by the
// server: OK, too loud, too quiet), build a voice and watch it complete, download licences.
'use strict';
(function () {
  const { api, act, events, make, el, show } = VG;
  const worklet = document.querySelector('meta[name="capture-worklet"]').content;
  // Sentences to read (IEEE "Harvard" sentences, list 1 and 2).
  const SENTENCES = [
    'The birch canoe slid on the smooth planks.',
    'Glue the sheet to the dark blue background.',
    'It is easy to tell the depth of a well.',
    'These days a chicken leg is a rare dish.',
    'Rice is often served in round bowls.',
    'The juice of lemons makes fine punch.',
    'The box was thrown beside the parked truck.',
    'The hogs were fed chopped corn and garbage.',
    'Four hours of steady work faced us.',
    'A large size in stockings is hard to sell.',
    'The boy was there when the sun rose.',
    'A rod is used to catch pink salmon.',
    'The source of the huge river is the clear spring.',
    'Kick the ball straight and follow through.',
    'Help the woman get back to her feet.',
    'A pot of tea helps to pass the evening.',
    'Smoky fires lack flame and heat.',
    'The soft cushion broke the man\u2019s fall.',
    'The salt breeze came across from the sea.',
    'The girl at the booth sold fifty bonds.',
  ];
  const VERDICTS = { OK: 'OK', OVERDRIVEN: 'too loud', UNDERDRIVEN: 'too quiet' };
  const page = { accounts: [], recording: null };

  function account() {
    return page.accounts.find((a) => a.account_id === el('account').value);
  }

  function showAccount() {
    const chosen = account();
    const recorded = chosen ? chosen.sentences_recorded : 0;
    show('recorded', String(recorded));
    show('sentence', SENTENCES[recorded % SENTENCES.length]);
    el('record').disabled = !chosen;
    el('build').disabled = !chosen;
  }

  async function loadAccounts(select) {
    const answer = await api('GET', '/api/v1/external/account/list/');
    page.accounts = answer.accounts;
    const list = el('account');
    const keep = select || list.value;
    list.replaceChildren(...page.accounts.map((a, i) => make('option', { value: a.account_id },
      'Account ' + (i + 1) + ' (' + a.gender + ', ' + a.age + ')')));
    if (keep && page.accounts.some((a) => a.account_id === keep)) list.value = keep;
    else if (page.accounts.length) list.value = page.accounts[page.accounts.length - 1].account_id;
    showAccount();
  }

  // Trying voices.
  async function loadVoices() {
    const answer = await api('GET', '/api/v1/external/voices/list/');
    const select = el('try-voice');
    const chosen = select.value;
    const streamable = answer.voices.filter((v) => v.can_stream);
    select.replaceChildren(...streamable.map((v) =>
      make('option', { value: v.download_token }, v.name + ' (' + v.language + ')')));
    // The browser's language first: a built voice, else an engine's.
    const wanted = (navigator.language || 'en-US').toLowerCase();
    const base = wanted.split('-')[0];
    const fits = streamable.find((v) => v.language.toLowerCase() === wanted && v.account_id) ||
      streamable.find((v) => v.language.toLowerCase() === wanted) ||
      streamable.find((v) => v.language.toLowerCase().split('-')[0] === base);
    if (chosen) select.value = chosen;
    else if (fits) select.value = fits.download_token;
    const built = answer.voices.filter((v) => v.account_id);
    el('voices').replaceChildren(...built.map(voiceRow));
    if (!built.length) el('voices').append(make('li', {}, 'No voice built yet.'));
  }

  function voiceRow(voice) {
    const button = make('button', { type: 'button', class: 'quiet' }, 'Download licence');
    button.setAttribute('aria-label', 'Download licence for ' + voice.name);
    button.addEventListener('click', () => act('voices-error', async () => {
      const device = await api('POST', '/api/v1/external/device/register/', { name: el('device-name').value });
      await VG.download('/api/v1/external/licenses/' + encodeURIComponent(voice.download_token) +
        '?device_id=' + encodeURIComponent(device.device_id), 'licence-' + voice.voice_id + '.json');
    }, button));
    return make('li', {}, make('span', {}, voice.name + ' (' + voice.language + ', ' + voice.base_voice + ')'), button);
  }

  function wireTry() {
    for (const name of ['pitch', 'rate']) {
      const slider = el('try-' + name);
      slider.addEventListener('input', () => show('try-' + name + '-value', Number(slider.value).toFixed(1)));
    }
    el('try-form').addEventListener('submit', (event) => {
      event.preventDefault();
      act('try-error', async () => {
        const query = new URLSearchParams({
          download_token: el('try-voice').value,
          script: el('try-text').value,
          pitch: el('try-pitch').value,
          rate: el('try-rate').value,
        });
        const wav = await api('GET', '/api/v1/external/synthesis/?' + query, undefined, { blob: true });
        const audio = el('try-audio');
        if (audio.src) URL.revokeObjectURL(audio.src);
        audio.src = URL.createObjectURL(wav);
        audio.hidden = false;
        await audio.play().catch(() => { /* autoplay may be refused: the controls remain */ });
      }, event.submitter || null);
    });
  }

  // Recording: raw samples from the microphone, a level meter, a WAV made here.
  function wav(chunks, rate) {
    const length = chunks.reduce((sum, c) => sum + c.length, 0);
    const buffer = new ArrayBuffer(44 + length * 2);
    const view = new DataView(buffer);
    const text = (at, s) => { for (let i = 0; i < s.length; i++) view.setUint8(at + i, s.charCodeAt(i)); };
    text(0, 'RIFF'); view.setUint32(4, 36 + length * 2, true); text(8, 'WAVE');
    text(12, 'fmt '); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
    view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true); view.setUint16(32, 2, true);
    view.setUint16(34, 16, true); text(36, 'data'); view.setUint32(40, length * 2, true);
    let at = 44;
    for (const chunk of chunks) {
      for (const sample of chunk) {
        const s = Math.max(-1, Math.min(1, sample));
        view.setInt16(at, s < 0 ? Math.round(s * 32768) : Math.round(s * 32767), true);
        at += 2;
      }
    }
    return new Blob([buffer], { type: 'audio/wav' });
  }

  async function startRecording() {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false, channelCount: 1 },
    }).catch((error) => { throw new Error('The microphone is not available: ' + error.message); });
    const context = new AudioContext();
    await context.audioWorklet.addModule(worklet);
    const source = context.createMediaStreamSource(stream);
    const capture = new AudioWorkletNode(context, 'vg-capture');
    const silent = context.createGain();
    silent.gain.value = 0;
    const chunks = [];
    let peak = 0;
    capture.port.onmessage = (message) => {
      chunks.push(message.data);
      for (const sample of message.data) peak = Math.max(peak, Math.abs(sample));
    };
    source.connect(capture).connect(silent).connect(context.destination);
    const meter = setInterval(() => { el('level').value = Math.min(1, peak); peak *= 0.5; }, 100);
    page.recording = { stream, context, chunks, meter, sentence: el('sentence').textContent };
    el('record').disabled = true;
    el('stop-recording').disabled = false;
    el('stop-recording').focus();
  }

  async function stopRecording() {
    const take = page.recording;
    page.recording = null;
    el('stop-recording').disabled = true;
    clearInterval(take.meter);
    el('level').value = 0;
    take.stream.getTracks().forEach((track) => track.stop());
    const rate = take.context.sampleRate;
    await take.context.close();
    const form = new FormData();
    form.append('file', wav(take.chunks, rate), 'take.wav');
    form.append('data', JSON.stringify({ account_id: el('account').value, sentence: take.sentence }));
    const item = make('li', {}, '\u201c' + take.sentence + '\u201d: checking\u2026');
    el('takes').append(item);
    try {
      const answer = await api('POST', '/api/v1/external/recording/save/', form);
      const code = answer.sentence_status.code;
      item.textContent = '\u201c' + take.sentence + '\u201d: ' + (VERDICTS[code] || code);
      item.dataset.verdict = code;
      await loadAccounts();
    } catch (error) {
      item.textContent = '\u201c' + take.sentence + '\u201d: not saved';
      throw error;
    } finally {
      el('record').disabled = !account();
    }
  }

  function wireRecording() {
    el('account').addEventListener('change', showAccount);
    el('account-form').addEventListener('submit', (event) => {
      event.preventDefault();
      act('account-error', async () => {
        const created = await api('POST', '/api/v1/external/account/register/', {
          gender: el('account-gender').value, age: Number(el('account-age').value),
        });
        await loadAccounts(created.account_id);
      }, event.submitter || null);
    });
    el('record').addEventListener('click', () => act('record-error', startRecording));
    el('stop-recording').addEventListener('click', () => act('record-error', stopRecording));
  }

  // Builds, kept live by the events hub.
  function buildRow(build) {
    const status = build.status + (build.error ? ': ' + build.error : '');
    return make('li', { id: 'build-' + build.build_id },
      make('span', {}, 'Build of account ' + (page.accounts.findIndex((a) => a.account_id === build.account_id) + 1)),
      make('span', { class: 'badge', id: 'build-status-' + build.build_id }, status));
  }

  async function loadBuilds() {
    const builds = await api('GET', '/api/v1/external/build/status/');
    el('builds').replaceChildren(...builds.map(buildRow));
    if (!builds.length) el('builds').append(make('li', {}, 'No builds yet.'));
  }

  function wireBuilds() {
    const button = el('build');
    button.addEventListener('click', () => act('build-error', async () => {
      const answer = await api('POST', '/api/v1/external/build/new/', { account_id: el('account').value });
      if (answer.status !== 'success') throw new Error(answer.message || 'The build was not started.');
      await loadBuilds();
    }, button));
  }

  function onEvent(name, data) {
    if (name === 'voices.build.complete' || name === 'voices.build.error') {
      const badge = el('build-status-' + data.build_id);
      if (badge) badge.textContent = data.status + (data.error ? ': ' + data.error : '');
      else act('build-error', loadBuilds);
      if (data.status === 'COMPLETE') act('voices-error', loadVoices);
    }
  }

  wireTry();
  wireRecording();
  wireBuilds();
  act('account-error', loadAccounts);
  act('try-error', loadVoices);
  events('voices.build', onEvent, () => act('build-error', loadBuilds));
})();
