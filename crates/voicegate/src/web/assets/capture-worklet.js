// The Voices page's capture: hands each block of microphone samples (mono, the context's rate)
// to the page unchanged, so that the recording the server checks is what the microphone gave.
class Capture extends AudioWorkletProcessor {
  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) this.port.postMessage(channel.slice(0));
    return true;
  }
}
registerProcessor('vg-capture', Capture);
