// Runs every ```sh block of the README in order, in one bash session, and checks each
// command's output against the output the README shows for it. Node built-ins only.
//
//   node readme-blocks.mjs README.md WORKDIR
//
// How the README states outputs (the convention this file enforces):
//   - "# …" lines right after a command, in the same block, are that command's output;
//   - a fence without a language, or ```json, right after a ```sh block (blank lines between
//     allowed) is the output of the block's last command;
//   - "…" stands for whatever differs from run to run: inside a JSON string it matches any
//     characters, as a bare JSON value or as the whole string it matches any value, and in
//     plain text it matches any characters;
//   - comments before a command or at the end of a command's line are prose;
//   - a block after a line "<!-- readme-test: skip (reason) -->" is not run.
// README_PORT_MAP="9080=23456 9081=…" rewrites ports in commands and outputs alike, so the
// README's own addresses work against a Caddy on free ports.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'

const ELLIPSIS = '…'

/** parseBlocks returns the README's ```sh blocks with their commands and expected outputs. */
export function parseBlocks (markdown) {
  const lines = markdown.split('\n')
  const blocks = []
  let lastProse = ''
  let shEnd = -2 // index of the closing fence of the last ```sh block
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i])
    if (!open) {
      if (lines[i].trim() !== '') lastProse = lines[i].trim()
      continue
    }
    const lang = open[1]
    const start = i + 1
    let end = start
    while (end < lines.length && !/^```\s*$/.test(lines[end])) end++
    const body = lines.slice(start, end)
    if (lang === 'sh') {
      const skip = /^<!--\s*readme-test:\s*skip\b/.test(lastProse)
      blocks.push({ line: start, skip, commands: parseCommands(body, start) })
      shEnd = end
    } else if ((lang === '' || lang === 'json') && blocks.length > 0 && onlyBlank(lines, shEnd + 1, i)) {
      // An output fence right after a shell block: the output of its last command.
      const last = blocks.at(-1).commands.at(-1)
      if (last && last.expected === undefined) last.expected = body.join('\n')
    }
    i = end
    lastProse = ''
  }
  return blocks
}

// onlyBlank reports whether lines[from:to] are all blank.
function onlyBlank (lines, from, to) {
  for (let k = from; k < to; k++) if (lines[k].trim() !== '') return false
  return true
}

/** parseCommands splits a shell block into commands (joining "\" continuations). */
export function parseCommands (body, firstLine) {
  const commands = []
  let current = null
  for (let j = 0; j < body.length; j++) {
    const line = body[j]
    const trimmed = line.trim()
    if (current && current.open) {
      current.text += '\n' + line
      current.open = line.endsWith('\\')
      continue
    }
    if (trimmed === '') {
      current = null
      continue
    }
    if (trimmed.startsWith('#')) {
      if (current) {
        const out = trimmed.replace(/^#\s?/, '')
        current.expected = current.expected === undefined ? out : current.expected + '\n' + out
      }
      continue
    }
    current = { line: firstLine + j + 1, text: line, open: line.endsWith('\\') }
    commands.push(current)
  }
  return commands
}

/** ellipsisToJSON quotes bare "…" values so the expected text parses as JSON. */
function ellipsisToJSON (text) {
  let out = ''
  let inString = false
  let escaped = false
  for (const ch of text) {
    if (inString) {
      out += ch
      if (escaped) escaped = false
      else if (ch === '\\') escaped = true
      else if (ch === '"') inString = false
    } else if (ch === '"') {
      inString = true
      out += ch
    } else if (ch === ELLIPSIS) {
      out += '"' + ELLIPSIS + '"'
    } else {
      out += ch
    }
  }
  return out
}

function globToRegExp (pattern) {
  const parts = pattern.split(ELLIPSIS).map(p => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
  return new RegExp('^' + parts.join('[\\s\\S]*') + '$')
}

/** shapeMismatch returns why actual does not fit expected, or '' when it does. */
export function shapeMismatch (expected, actual, path = '$') {
  if (expected === ELLIPSIS) return ''
  if (typeof expected === 'string' && expected.includes(ELLIPSIS)) {
    return typeof actual === 'string' && globToRegExp(expected).test(actual) ? '' : `${path}: ${JSON.stringify(actual)} does not match ${JSON.stringify(expected)}`
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return `${path}: ${JSON.stringify(actual)} is not an array of ${expected.length}`
    for (let i = 0; i < expected.length; i++) {
      const why = shapeMismatch(expected[i], actual[i], `${path}[${i}]`)
      if (why) return why
    }
    return ''
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return `${path}: ${JSON.stringify(actual)} is not an object`
    const want = Object.keys(expected).sort().join(',')
    const got = Object.keys(actual).sort().join(',')
    if (want !== got) return `${path}: members ${got}, the README shows ${want}`
    for (const k of Object.keys(expected)) {
      const why = shapeMismatch(expected[k], actual[k], `${path}.${k}`)
      if (why) return why
    }
    return ''
  }
  return expected === actual ? '' : `${path}: ${JSON.stringify(actual)}, the README shows ${JSON.stringify(expected)}`
}

/** outputMismatch compares a command's output with what the README shows for it. */
export function outputMismatch (expected, actual) {
  const want = expected.trim()
  const got = actual.trim()
  if (want.startsWith('{') || want.startsWith('[')) {
    let wantJSON, gotJSON
    try {
      wantJSON = JSON.parse(ellipsisToJSON(want))
    } catch (e) {
      return `the README's output is not JSON: ${e.message}`
    }
    try {
      gotJSON = JSON.parse(got)
    } catch {
      return `the output is not JSON: ${got}`
    }
    return shapeMismatch(wantJSON, gotJSON)
  }
  return globToRegExp(want).test(got) ? '' : `output ${JSON.stringify(got)}, the README shows ${JSON.stringify(want)}`
}

function rewritePorts (text, map) {
  let out = text
  for (const [from, to] of map) {
    out = out.replace(new RegExp(`(:|%3A)${from}\\b`, 'g'), `$1${to}`)
  }
  return out
}

function main () {
  const [readmePath, work] = process.argv.slice(2)
  const ports = (process.env.README_PORT_MAP || '').split(/\s+/).filter(Boolean).map(p => p.split('='))
  const blocks = parseBlocks(readFileSync(readmePath, 'utf8'))
  const outDir = join(work, '.outputs')
  mkdirSync(outDir, { recursive: true })

  // One bash session: variables and files carry from block to block, as in a terminal.
  const commands = blocks.filter(b => !b.skip).flatMap(b => b.commands)
  let script = 'cd ' + JSON.stringify(work) + '\n'
  commands.forEach((c, n) => {
    c.text = rewritePorts(c.text, ports)
    if (c.expected !== undefined) c.expected = rewritePorts(c.expected, ports)
    script += `{\n${c.text}\n} >${JSON.stringify(join(outDir, String(n)))} 2>&1\necho $? >${JSON.stringify(join(outDir, n + '.rc'))}\n`
  })
  writeFileSync(join(work, 'readme-blocks.sh'), script)
  const run = spawnSync('bash', [join(work, 'readme-blocks.sh')], { stdio: 'inherit', timeout: 5 * 60 * 1000 })
  if (run.error) throw run.error

  let failures = 0
  let checked = 0
  commands.forEach((c, n) => {
    const where = `README.md:${c.line}`
    const outFile = join(outDir, String(n))
    if (!existsSync(outFile)) {
      console.log(`FAIL ${where}: did not run`)
      failures++
      return
    }
    const output = readFileSync(outFile, 'utf8')
    const rc = readFileSync(join(outDir, n + '.rc'), 'utf8').trim()
    let why = rc === '0' ? '' : `exit status ${rc}: ${output.trim()}`
    if (!why && c.expected !== undefined) {
      checked++
      why = outputMismatch(c.expected, output)
    }
    if (why) {
      failures++
      console.log(`FAIL ${where}: ${c.text.split('\n')[0]}\n     ${why}`)
    } else {
      console.log(`ok   ${where}: ${c.text.split('\n')[0]}`)
    }
  })
  const skipped = blocks.filter(b => b.skip).length
  console.log(`\n${commands.length} commands run, ${checked} outputs checked, ${blocks.length - skipped} blocks run, ${skipped} skipped, ${failures} failed`)
  if (checked === 0) {
    console.log('no output was checked: the README lost its outputs or this parser broke')
    failures++
  }
  process.exit(failures ? 1 : 0)
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop())) main()
