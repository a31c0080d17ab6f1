# The Snips console flow as the contract's Python client drives it: `requests` with `json=` even on
# GET, `Authorization: JWT <alias token>`, and a 401 answered by logging in again (the client starts
# with a stale token from an old configuration). Prints a JSON summary; any failed check raises.
import hashlib, io, json, sys, time, uuid, zipfile

import requests

base, email, password, dataset_text = sys.argv[1:5]
dataset = json.loads(dataset_text)


class SnipsConsole:
    def __init__(self):
        self.tries = 0
        self.logins = 0
        self.user_id = None
        self.headers = {'Accept': 'application/json', 'Content-Type': 'application/json',
                        'Authorization': 'JWT a-token-from-an-old-configuration'}

    def login(self):
        self.tries += 1
        assert self.tries <= 3, 'max login tries reached'
        self.headers.pop('Authorization', None)
        req = requests.request(method='post', url=base + '/v1/user/auth', headers=self.headers,
                               json={'email': email, 'password': password})
        assert req.status_code == 200, req.text
        token = req.headers['authorization']
        self.user_id = json.loads(req.content)['user']['id']
        alias = 'sam-{}'.format(str(uuid.uuid4())).replace('-', '')[:29]
        self.headers['Authorization'] = token
        req = requests.request(method='post', url=base + '/v1/user/{}/accesstoken'.format(self.user_id),
                               headers=self.headers, json={'alias': alias})
        assert req.status_code == 201, req.text
        self.headers['Authorization'] = 'JWT {}'.format(json.loads(req.content)['token']['token'])
        self.logins += 1
        self.tries = 0

    def req(self, url, method='post', data=None):
        req = requests.request(method=method, url=base + url, json=data, headers=self.headers)
        if req.status_code == 401:
            self.login()
            req = requests.request(method=method, url=base + url, json=data, headers=self.headers)
        return req


console = SnipsConsole()
first = console.req('/v3/assistant', method='get')
assert first.status_code == 200 and console.logins == 1, (first.status_code, console.logins)
listed = console.req('/v3/assistant', method='get', data={'userId': console.user_id})
assert listed.status_code == 200 and listed.json() == {'assistants': []}, listed.text

created = console.req('/v3/assistant', data={'title': 'Home', 'dataset': dataset})
assert created.status_code == 201, created.text
assistant_id = created.json()['id']
listed = console.req('/v3/assistant', method='get', data={'userId': console.user_id}).json()['assistants']
assert [a['id'] for a in listed] == [assistant_id], listed
assert listed[0]['title'] == 'Home' and listed[0]['language'] == 'en', listed
assert listed[0]['nluStatus']['needTraining'] is True, listed

status = console.req('/v3/assistant/{}/status'.format(assistant_id), method='get').json()
assert status['nluStatus']['needTraining'] and not status['nluStatus']['inProgress'], status
assert console.req('/v3/assistant/{}/download'.format(assistant_id), method='get').status_code == 409
assert console.req('/v3/assistant/{}/parse'.format(assistant_id), data={'text': 'hi'}).status_code == 409

training = console.req('/v1/training', data={'assistantId': assistant_id})
assert training.status_code == 200, training.text
deadline = time.time() + 120
while True:
    status = console.req('/v3/assistant/{}/status'.format(assistant_id), method='get').json()
    nlu = status['nluStatus']
    if not nlu['inProgress']:
        break
    assert time.time() < deadline, status
    time.sleep(0.1)
assert nlu['needTraining'] is False and 'error' not in nlu and nlu['trainedAt'], status
assert nlu['progress'] == 100, status
assert 'asrStatus' in status, status

asr = console.req('/v1/languagemodel/status', method='get', data={'assistantId': assistant_id})
assert asr.status_code == 200, asr.text
assert asr.json()['asrStatus']['needTraining'] is True and asr.json()['asrStatus']['progress'] == 0, asr.text

download = console.req('/v3/assistant/{}/download'.format(assistant_id), method='get')
assert download.status_code == 200, download.text
assert download.headers['content-type'] == 'application/zip', download.headers
archive = zipfile.ZipFile(io.BytesIO(download.content))
assert archive.testzip() is None
names = sorted(archive.namelist())
assert names == ['assistant.json', 'dataset.json', 'nlu_engine.bin'], names
manifest = json.loads(archive.read('assistant.json'))
assert manifest['assistantId'] == assistant_id, manifest
assert sorted(f['name'] for f in manifest['files']) == ['dataset.json', 'nlu_engine.bin'], manifest
for entry in manifest['files']:
    data = archive.read(entry['name'])
    assert hashlib.sha256(data).hexdigest() == entry['sha256'], entry['name']
    assert len(data) == entry['size'], entry['name']
assert json.loads(archive.read('dataset.json'))['language'] == 'en'

parsed = console.req('/v3/assistant/{}/parse'.format(assistant_id),
                     data={'text': 'turn on the lights in the kitchen'}).json()
assert parsed['intent']['intentName'] == 'turnLightOn', parsed
slots = {s['slotName']: s['rawValue'] for s in parsed['slots']}
assert slots == {'room': 'kitchen'}, parsed

# A changed dataset needs training again; parsing keeps the model in use meanwhile.
dataset['intents']['turnLightOn']['utterances'].append({'data': [{'text': 'lights on please'}]})
replaced = console.req('/v3/assistant/{}'.format(assistant_id), method='put', data={'dataset': dataset})
assert replaced.status_code == 200, replaced.text
status = console.req('/v3/assistant/{}/status'.format(assistant_id), method='get').json()
assert status['nluStatus']['needTraining'] is True, status
again = console.req('/v3/assistant/{}/parse'.format(assistant_id), data={'text': 'turn on the lights in the kitchen'})
assert again.json()['intent']['intentName'] == 'turnLightOn', again.text

deleted = console.req('/v3/assistant/{}'.format(assistant_id), method='delete')
assert deleted.status_code == 204, deleted.text
assert console.req('/v3/assistant/{}/status'.format(assistant_id), method='get').status_code == 404
print(json.dumps({'ok': True, 'logins': console.logins}))
