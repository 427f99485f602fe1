// Unit tests of the README block runner's parser and output matching: node --test
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { parseBlocks, outputMismatch } from './readme-blocks.mjs'

test('outputs: comment lines after a command, and an output fence after a block', () => {
  const md = [
    'Intro', '', '```sh', 'A=1   # prose', 'echo "$A" \\', '  two', '# 1 two', '# second line', '',
    '# prose before a command', 'curl x', '```', '', '```json', '{"a":1}', '```', '',
    '<!-- readme-test: skip (why) -->', '```sh', 'make run', '```', 'text', '```', 'not output', '```'
  ].join('\n')
  const blocks = parseBlocks(md)
  assert.equal(blocks.length, 2)
  const [first, second] = blocks
  assert.deepEqual(first.commands.map(c => [c.text, c.expected]), [
    ['A=1   # prose', undefined],
    ['echo "$A" \\\n  two', '1 two\nsecond line'],
    ['curl x', '{"a":1}']
  ])
  assert.equal(second.skip, true)
  assert.equal(second.commands[0].expected, undefined, 'a fence after prose is not an output')
})

test('JSON outputs compare member by member', () => {
  const cases = [
    ['{"a":1,"b":"x"}', '{"b":"x","a":1}', true],
    ['{"expires_in":300}', '{"expires_in":600}', false],
    ['{"a":1}', '{"a":1,"extra":2}', false],
    ['{"a":1,"gone":2}', '{"a":1}', false],
    ['{"t":"eyJhbGci…","exp":…}', '{"t":"eyJhbGciOiJ","exp":17}', true],
    ['{"t":"eyJhbGci…"}', '{"t":"xyz"}', false],
    ['{"sub":"…"}', '{"sub":42}', true],
    ['{"aud":["a","…"]}', '{"aud":["a","b"]}', true],
    ['{"aud":["a","…"]}', '{"aud":["a"]}', false],
    ['{"a":true}', 'not json', false]
  ]
  for (const [want, got, ok] of cases) {
    assert.equal(outputMismatch(want, got) === '', ok, `${want} vs ${got}: ${outputMismatch(want, got)}`)
  }
})

test('text outputs match with … as a wildcard', () => {
  assert.equal(outputMismatch('hello …, you may: read', 'hello abc, you may: read\n'), '')
  assert.notEqual(outputMismatch('hello …, you may: read', 'hello abc, you may: write'), '')
  assert.notEqual(outputMismatch('401', '200'), '')
  assert.equal(outputMismatch('a.b(c)', 'a.b(c)'), '', 'regexp characters are literal')
  assert.notEqual(outputMismatch('a.b', 'axb'), '')
})
