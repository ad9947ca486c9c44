// Progressive touches only: every page works without this script.
// Buttons marked data-confirm ask before their form is sent.
document.addEventListener('submit', (event) => {
  const button = event.submitter
  const message = button && button.getAttribute('data-confirm')
  if (message && !window.confirm(message)) event.preventDefault()
})
