// Recently opened documents, kept in localStorage so a visitor can find their way back.
const KEY = 'plait.recent'
const MAX = 12

export const loadRecent = () => {
  try {
    const list = JSON.parse(localStorage.getItem(KEY) || '[]')
    return Array.isArray(list) ? list.filter((e) => e && typeof e.name === 'string') : []
  } catch {
    return []
  }
}

export const touchRecent = (name) => {
  const list = loadRecent().filter((e) => e.name !== name)
  list.unshift({ name, openedAt: Date.now() })
  localStorage.setItem(KEY, JSON.stringify(list.slice(0, MAX)))
}

export const removeRecent = (name) => {
  localStorage.setItem(KEY, JSON.stringify(loadRecent().filter((e) => e.name !== name)))
}
