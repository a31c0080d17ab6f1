// The Assistants page: the user's assistants with their training state (a progress bar kept
// live by the events hub), creation from a dataset file (chosen or dropped), training, the
// zip download, and a "try it" box that shows the intent and the slots in the sentence.
'use strict';
(function () {
  const { api, act, events, make, el, show } = VG;
  const jobs = new Map(); // NLU training job id → assistant id
  const asrJobs = new Map(); // speech-model job id → assistant id

  function trainingText(status) {
    if (status.inProgress) return 'training ' + status.progress + '%';
    if (status.error) return 'training failed';
    if (status.needTraining) return 'needs training';
    return 'trained';
  }

  function setTraining(id, progress, text, error) {
    const bar = el('progress-' + id);
    if (!bar) return;
    bar.value = progress;
    bar.textContent = progress + '%';
    show('training-' + id, text);
    if (error !== undefined) show('row-error-' + id, error);
  }

  function setSpeech(id, text, error) {
    show('asr-' + id, text);
    if (error !== undefined) show('row-error-' + id, error);
  }

  function titleCell(assistant) {
    const id = assistant.id;
    const input = make('input', { id: 'title-' + id, value: assistant.title, maxlength: 200,
      'aria-label': 'Title of ' + assistant.title });
    const rename = make('button', { type: 'button', class: 'quiet', id: 'rename-' + id }, 'Rename');
    rename.setAttribute('aria-label', 'Rename ' + assistant.title);
    rename.addEventListener('click', () => act('row-error-' + id, async () => {
      const renamed = await api('PUT', '/v3/assistant/' + id, { title: input.value });
      input.value = renamed.title;
      document.getElementById('status').textContent = 'Renamed \u201c' + renamed.title + '\u201d.';
    }, rename));
    return make('td', {}, make('div', { class: 'rename' }, input, rename));
  }

  function speechCell(assistant) {
    const id = assistant.id;
    const build = make('button', { type: 'button', class: 'quiet', id: 'asr-build-' + id }, 'Build');
    build.setAttribute('aria-label', 'Build the speech model of ' + assistant.title);
    build.addEventListener('click', () => act('row-error-' + id, async () => {
      const queued = await api('POST', '/v1/languagemodel', { assistantId: id });
      asrJobs.set(queued.jobId, id);
      setSpeech(id, trainingText(queued.asrStatus), '');
    }, build));
    return make('td', {}, make('span', { id: 'asr-' + id }, trainingText(assistant.asrStatus)), ' ', build);
  }

  function row(assistant) {
    const id = assistant.id;
    const status = assistant.nluStatus;
    const train = make('button', { type: 'button', id: 'train-' + id }, 'Train');
    train.setAttribute('aria-label', 'Train ' + assistant.title);
    train.addEventListener('click', () => act('row-error-' + id, async () => {
      const queued = await api('POST', '/v1/training', { assistantId: id });
      jobs.set(queued.jobId, id);
      setTraining(id, Math.max(queued.nluStatus.progress, 0), trainingText(queued.nluStatus), '');
    }, train));
    const download = make('button', { type: 'button', class: 'quiet', id: 'download-' + id }, 'Download');
    download.setAttribute('aria-label', 'Download ' + assistant.title);
    download.addEventListener('click', () => act('row-error-' + id,
      () => VG.download('/v3/assistant/' + id + '/download', 'assistant_' + id + '.zip'), download));
    const progress = status.needTraining && !status.inProgress ? 0 : status.progress;
    return make('tr', { id: 'assistant-' + id },
      titleCell(assistant),
      make('td', {}, assistant.language),
      make('td', {},
        make('progress', { id: 'progress-' + id, max: 100, value: progress, 'aria-label': 'Training of ' + assistant.title }, progress + '%'),
        ' ', make('span', { id: 'training-' + id }, trainingText(status)),
        make('p', { id: 'row-error-' + id, class: 'error', role: 'alert' }, status.error || '')),
      speechCell(assistant),
      make('td', {}, make('div', { class: 'buttons' }, train, download)));
  }

  async function load() {
    const answer = await api('GET', '/v3/assistant');
    const body = el('assistants');
    const select = el('parse-assistant');
    const chosen = select.value;
    body.replaceChildren();
    select.replaceChildren();
    for (const assistant of answer.assistants) {
      body.append(row(assistant));
      select.append(make('option', { value: assistant.id }, assistant.title));
    }
    if (chosen) select.value = chosen;
    if (!answer.assistants.length) {
      body.append(make('tr', {}, make('td', { colspan: 5 }, 'No assistants yet: create one below.')));
    }
  }

  function onEvent(name, data) {
    if (name.startsWith('jobs.nlu_training.')) {
      const id = jobs.get(data.job_id);
      if (!id) return;
      if (data.status === 'failed') setTraining(id, data.progress, 'training failed', data.error || '');
      else if (data.status !== 'done') setTraining(id, data.progress, 'training ' + data.progress + '%');
    } else if (name.startsWith('jobs.asr_training.')) {
      const id = asrJobs.get(data.job_id);
      if (!id) return;
      if (data.status === 'failed') setSpeech(id, 'build failed', data.error || '');
      else if (data.status !== 'done') setSpeech(id, 'building ' + data.progress + '%');
    } else if (name === 'assistants.asr.built') {
      setSpeech(data.assistantId, 'built', '');
    } else if (name === 'assistants.asr.failed') {
      setSpeech(data.assistantId, 'build failed', data.error || '');
    } else if (name === 'assistants.nlu.trained') {
      setTraining(data.assistantId, 100, 'trained', '');
    } else if (name === 'assistants.nlu.failed') {
      setTraining(data.assistantId, 0, 'training failed', data.error || '');
    } else if (name === 'assistants.created' || name === 'assistants.deleted' || name === 'assistants.updated') {
      act('list-error', load);
    }
  }

  function readFile(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.onerror = () => reject(new Error('The file could not be read.'));
      reader.readAsText(file);
    });
  }

  function wireCreate() {
    const form = el('create-form');
    const input = el('create-file');
    const drop = el('drop');
    drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('over'); });
    drop.addEventListener('dragleave', () => drop.classList.remove('over'));
    drop.addEventListener('drop', (event) => {
      event.preventDefault();
      drop.classList.remove('over');
      if (event.dataTransfer.files.length) input.files = event.dataTransfer.files;
    });
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      act('create-error', async () => {
        const file = input.files[0];
        if (!file) throw new Error('Choose a dataset file first.');
        let dataset;
        try {
          dataset = JSON.parse(await readFile(file));
        } catch (error) {
          throw new Error(file.name + ' is not JSON: ' + error.message);
        }
        const body = { dataset };
        const title = el('create-title').value.trim();
        if (title) body.title = title;
        const created = await api('POST', '/v3/assistant', body);
        form.reset();
        await load();
        el('parse-assistant').value = created.id;
        document.getElementById('status').textContent = 'Created \u201c' + created.title + '\u201d.';
      }, event.submitter || null);
    });
  }

  /** The sentence with each slot's words marked and named. */
  function highlighted(input, slots) {
    const chars = Array.from(input);
    const parts = [];
    let at = 0;
    for (const slot of [...slots].sort((a, b) => a.range.start - b.range.start)) {
      if (slot.range.start < at) continue;
      parts.push(chars.slice(at, slot.range.start).join(''));
      parts.push(make('mark', { 'data-slot': slot.slotName },
        chars.slice(slot.range.start, slot.range.end).join(''), make('small', {}, slot.slotName)));
      at = slot.range.end;
    }
    parts.push(chars.slice(at).join(''));
    return parts;
  }

  function wireParse() {
    el('parse-form').addEventListener('submit', (event) => {
      event.preventDefault();
      act('parse-error', async () => {
        const id = el('parse-assistant').value;
        if (!id) throw new Error('Create an assistant first.');
        const parsed = await api('POST', '/v3/assistant/' + id + '/parse', { text: el('parse-text').value });
        show('parse-intent', parsed.intent ? parsed.intent.intentName : 'none recognised');
        show('parse-probability', parsed.intent ? '(probability ' + parsed.intent.probability.toFixed(2) + ')' : '');
        el('parse-sentence').replaceChildren(...highlighted(parsed.input, parsed.slots));
        el('parse-slots').replaceChildren(...parsed.slots.map((slot) => make('li', {},
          make('span', {}, slot.slotName + ' (' + slot.entity + ')'),
          make('span', {}, typeof slot.value === 'object' && slot.value !== null && 'value' in slot.value
            ? String(slot.value.value) : slot.rawValue))));
        el('parse-result').hidden = false;
      }, event.submitter || null);
    });
  }

  wireCreate();
  wireParse();
  act('list-error', load);
  events('jobs.nlu_training,jobs.asr_training,assistants', onEvent, () => act('list-error', load));
})();
