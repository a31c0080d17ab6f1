// The Speakers page: the devices with their state (kept live by the events hub), a volume
// slider per device and for the session, playback controls, party mode, the media list and a
// "say this" box. It works through the HK Omni routes with one session of its own.
'use strict';
(function () {
  const { api, act, events, make, el, show, clock } = VG;
  const SAVED = 'vg.speakers.session';
  const page = {
    token: null,
    devices: new Map(),
    inSession: new Set(),
    state: 'PlayerStateStopped',
    elapsed: 0,
    since: 0,
  };

  function hk(route, parameters) {
    return api('POST', '/api/v1/' + route, Object.assign({ SessionToken: page.token }, parameters));
  }

  /** Reuses this tab's session when the server still knows it, else opens one. */
  async function openSession() {
    const saved = sessionStorage.getItem(SAVED);
    if (saved) {
      page.token = saved;
      try {
        await hk('device_count');
        page.inSession = new Set(JSON.parse(sessionStorage.getItem(SAVED + '.devices') || '[]'));
        return;
      } catch (error) {
        if (error.status !== 404) throw error;
      }
    }
    const opened = await api('POST', '/api/v1/init_session', {});
    page.token = opened.SessionToken;
    page.inSession = new Set();
    sessionStorage.setItem(SAVED, page.token);
    remember();
  }

  function remember() {
    sessionStorage.setItem(SAVED + '.devices', JSON.stringify([...page.inSession]));
  }

  function deviceCard(device) {
    const id = device.DeviceID;
    const name = device.DeviceName || 'Speaker ' + id;
    const slider = make('input', {
      type: 'range', min: 0, max: 50, step: 1, id: 'volume-' + id, value: String(device.Volume),
    });
    const shown = make('output', { id: 'volume-value-' + id, for: 'volume-' + id }, device.Volume);
    slider.addEventListener('input', () => { shown.textContent = slider.value; });
    slider.addEventListener('change', () => act('devices-error',
      () => hk('set_volume_device', { DeviceID: id, Volume: Number(slider.value) })));
    const member = make('input', { type: 'checkbox', id: 'member-' + id, checked: page.inSession.has(id) });
    member.addEventListener('change', () => act('devices-error', async () => {
      try {
        await hk(member.checked ? 'add_device_to_session' : 'remove_device_from_session', { DeviceID: id });
        if (member.checked) page.inSession.add(id); else page.inSession.delete(id);
        remember();
      } catch (error) {
        member.checked = !member.checked;
        throw error;
      }
    }));
    return make('li', { class: 'card', id: 'device-' + id },
      make('h3', {}, name),
      device.GroupName ? make('p', { class: 'hint' }, 'Room: ' + device.GroupName) : null,
      make('p', {},
        make('span', { class: 'badge ' + (device.Active ? 'on' : 'off'), id: 'active-' + id },
          device.Active ? 'connected' : 'not connected'),
        ' ',
        make('span', { class: 'badge', id: 'playing-' + id }, device.IsPlaying ? 'playing' : 'idle')),
      make('div', { class: 'slider' },
        make('label', { for: 'volume-' + id }, 'Volume of ' + name), slider, shown),
      make('label', { class: 'check', for: 'member-' + id }, member, ' In this session'));
  }

  async function loadDevices() {
    const answer = await hk('device_list');
    const list = el('devices');
    const targets = el('say-targets');
    list.replaceChildren();
    targets.replaceChildren();
    page.devices.clear();
    for (const device of answer.DeviceList) {
      page.devices.set(device.DeviceID, device);
      list.append(deviceCard(device));
      const box = make('input', { type: 'checkbox', id: 'say-' + device.DeviceID, value: device.DeviceID });
      targets.append(make('label', { for: 'say-' + device.DeviceID }, box, ' ' + (device.DeviceName || device.DeviceID)));
    }
    if (!answer.DeviceList.length) list.append(make('li', {}, 'No speakers are known yet.'));
  }

  /** A device changed (from the events hub): update its card without reloading the list. */
  function deviceChanged(data) {
    const id = data.DeviceID;
    if (!page.devices.has(id) || data.DeviceName !== undefined) {
      act('devices-error', loadDevices);
      return;
    }
    if (data.Volume !== undefined) {
      const slider = el('volume-' + id);
      if (slider && document.activeElement !== slider) slider.value = String(data.Volume);
      show('volume-value-' + id, String(data.Volume));
    }
    if (data.Active !== undefined) {
      const badge = el('active-' + id);
      badge.textContent = data.Active ? 'connected' : 'not connected';
      badge.className = 'badge ' + (data.Active ? 'on' : 'off');
    }
  }

  const STATES = {
    PlayerStatePlaying: 'playing',
    PlayerStatePaused: 'paused',
    PlayerStateStopped: 'stopped',
  };

  function playback(stateName, elapsed, announcing) {
    page.state = stateName;
    page.elapsed = Math.max(0, Number(elapsed) || 0);
    page.since = performance.now();
    show('playback-state', (STATES[stateName] || stateName) + (announcing ? ' (announcement)' : ''));
    tick();
  }

  function tick() {
    let seconds = page.elapsed;
    if (page.state === 'PlayerStatePlaying') seconds += (performance.now() - page.since) / 1000;
    show('elapsed', page.state === 'PlayerStateStopped' ? '0:00' : clock(seconds));
  }

  async function loadPlayback() {
    const status = await hk('playback_status');
    playback(status.PlaybackState, status.TimeElapsed, false);
  }

  async function loadMedia() {
    const answer = await hk('media_list');
    const list = el('media');
    list.replaceChildren();
    for (const item of answer.MediaList) {
      const play = make('button', { type: 'button', class: 'quiet' }, 'Play');
      play.setAttribute('aria-label', 'Play ' + item.Title);
      play.addEventListener('click', () => act('media-error',
        () => hk('play_hub_media', { PersistentID: item.PersistentID }), play));
      const about = [item.Title, item.Artist].filter(Boolean).join(' — ');
      list.append(make('li', {}, make('span', {}, about + ' (' + clock(item.Duration) + ')'), play));
    }
    if (!answer.MediaList.length) list.append(make('li', {}, 'The media folder is empty.'));
  }

  async function loadVoices() {
    let answer;
    try {
      answer = await api('GET', '/api/v1/external/voices/list/');
    } catch (_) {
      return; // without the voice:list scope, the default voice only
    }
    const select = el('say-voice');
    for (const voice of answer.voices.filter((v) => v.can_stream)) {
      select.append(make('option', { value: voice.voice_id }, voice.name + ' (' + voice.language + ')'));
    }
  }

  function wire() {
    const sessionVolume = el('session-volume');
    sessionVolume.addEventListener('input', () => show('session-volume-value', sessionVolume.value));
    sessionVolume.addEventListener('change', () => act('session-error',
      () => hk('set_volume', { Volume: Number(sessionVolume.value) })));
    const button = (id, work) => {
      const target = el(id);
      target.addEventListener('click', () => act('session-error', work, target));
    };
    button('party', async () => {
      await hk('set_party_mode');
      page.inSession = new Set(page.devices.keys());
      remember();
      for (const id of page.devices.keys()) el('member-' + id).checked = true;
    });
    button('pause', () => hk('pause_play'));
    button('resume', () => hk('resume_hub_media'));
    button('stop', () => hk('stop_play'));
    const sayVolume = el('say-volume');
    const sayVolumeOn = el('say-volume-on');
    sayVolume.addEventListener('input', () => show('say-volume-value', sayVolume.value));
    sayVolumeOn.addEventListener('change', () => { sayVolume.disabled = !sayVolumeOn.checked; });
    el('say-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const submit = event.submitter || null;
      act('say-error', async () => {
        const ids = [...el('say-targets').querySelectorAll('input:checked')].map((box) => box.value);
        const parameters = { Text: el('say-text').value };
        if (sayVolumeOn.checked) parameters.Volume = Number(sayVolume.value);
        const voice = el('say-voice').value;
        if (voice) parameters.Voice = voice;
        if (ids.length) {
          parameters.DeviceIDList = ids.join(',');
          await hk('play_tts_selected_speakers', parameters);
        } else {
          await hk('play_tts', parameters);
        }
        document.getElementById('status').textContent = 'Saying it on ' +
          (ids.length ? ids.length + ' speaker' + (ids.length > 1 ? 's' : '') : 'the session\u2019s speakers') + '.';
      }, submit);
    });
  }

  async function start() {
    wire();
    setInterval(tick, 1000);
    await act('devices-error', openSession);
    if (!page.token) return;
    await act('devices-error', loadDevices);
    act('session-error', async () => {
      const volume = await hk('get_volume');
      el('session-volume').value = volume.Volume;
      show('session-volume-value', volume.Volume);
    });
    act('session-error', loadPlayback);
    act('media-error', loadMedia);
    loadVoices();
    events('speakers', (name, data) => {
      if (name === 'speakers.device') deviceChanged(data);
      if (name === 'speakers.playback') {
        playback(data.PlaybackState, data.TimeElapsed, data.Announcing);
        for (const id of page.devices.keys()) {
          const playing = data.PlaybackState === 'PlayerStatePlaying' && (data.DeviceIDList || []).includes(id);
          show('playing-' + id, playing ? 'playing' : 'idle');
        }
      }
    }, () => { if (page.token) act('session-error', loadPlayback); });
  }

  start();
})();
