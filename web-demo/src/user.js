// The visitor's identity for presence (awareness `user: {name, color}`). Kept per tab (sessionStorage)
// so two tabs of one browser show up as two people, and survives a reload of the tab.
import { randomColor, randomUserName } from './names.js'

const KEY = 'plait.user'

export const loadUser = () => {
  try {
    const u = JSON.parse(sessionStorage.getItem(KEY) || 'null')
    if (u && typeof u.name === 'string' && /^#[0-9a-f]{6}$/i.test(u.color)) return u
  } catch {}
  const user = { name: randomUserName(), color: randomColor() }
  saveUser(user)
  return user
}

export const saveUser = (user) => sessionStorage.setItem(KEY, JSON.stringify(user))
