// The "Here now" list: one row per awareness state carrying a `user`, this tab first.
export function renderPresence (list, awareness) {
  const rows = []
  for (const [clientId, state] of awareness.getStates()) {
    if (!state || !state.user) continue
    rows.push({ clientId, user: state.user, me: clientId === awareness.clientID })
  }
  rows.sort((a, b) => (b.me - a.me) || String(a.user.name).localeCompare(String(b.user.name)))
  list.textContent = ''
  for (const { user, me } of rows) {
    const li = document.createElement('li')
    const dot = document.createElement('span')
    dot.className = 'swatch'
    dot.style.background = /^#[0-9a-f]{6}$/i.test(user.color) ? user.color : '#888'
    const name = document.createElement('span')
    name.textContent = String(user.name ?? 'anonymous')
    li.append(dot, name)
    if (me) {
      const you = document.createElement('span')
      you.className = 'muted small'
      you.textContent = '(you)'
      li.append(you)
    }
    list.append(li)
  }
}
