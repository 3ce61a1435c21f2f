// Recently opened documents, kept in localStorage so a visitor can find their way back.
/** The localStorage key; exported so other tabs' changes to it can be recognised. */
export const RECENT_KEY = 'plait.recent'
const MAX = 12

export const loadRecent = () => {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_KEY) || '[]')
    return Array.isArray(list) ? list.filter((e) => e && typeof e.name === 'string') : []
  } catch {
    return []
  }
}

export const touchRecent = (name) => {
  const list = loadRecent().filter((e) => e.name !== name)
  list.unshift({ name, openedAt: Date.now() })
  localStorage.setItem(RECENT_KEY, JSON.stringify(list.slice(0, MAX)))
}

export const removeRecent = (name) => {
  localStorage.setItem(RECENT_KEY, JSON.stringify(loadRecent().filter((e) => e.name !== name)))
}
