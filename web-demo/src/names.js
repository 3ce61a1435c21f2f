// Random, friendly names for visitors and new documents, so a first visit needs no setup.
const ADJECTIVES = ['amber', 'brave', 'calm', 'clever', 'cosmic', 'eager', 'gentle', 'golden', 'happy',
  'lucky', 'mellow', 'nimble', 'quiet', 'rapid', 'silver', 'sunny', 'swift', 'witty']
const ANIMALS = ['badger', 'crane', 'dolphin', 'falcon', 'fox', 'heron', 'koala', 'lynx', 'marten',
  'narwhal', 'otter', 'owl', 'panda', 'puffin', 'raven', 'seal', 'tiger', 'wombat']
// Colours readable as caret labels with white text.
export const COLORS = ['#e11d48', '#db2777', '#9333ea', '#4f46e5', '#2563eb', '#0891b2', '#0d9488',
  '#16a34a', '#ca8a04', '#ea580c']

const pick = (list) => list[Math.floor(Math.random() * list.length)]
const cap = (s) => s[0].toUpperCase() + s.slice(1)

export const randomUserName = () => `${cap(pick(ADJECTIVES))} ${cap(pick(ANIMALS))}`
export const randomColor = () => pick(COLORS)
export const randomDocName = () =>
  `${pick(ADJECTIVES)}-${pick(ANIMALS)}-${Math.random().toString(36).slice(2, 6)}`
