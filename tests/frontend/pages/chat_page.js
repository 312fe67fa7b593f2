// Fills the message list from the templates until it must scroll: 40 rounds
// of mine, theirs and one that failed to decrypt.
const list = document.getElementById('messages');
for (let round = 0; round < 40; round += 1) {
  for (const id of ['message-mine', 'message-theirs', 'message-failed']) {
    list.append(document.getElementById(id).content.cloneNode(true));
  }
}
document.body.dataset.chatState = 'filled';
