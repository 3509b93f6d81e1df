-- What the Neovim test scripts share: the report written as JSON to
-- $MESHLS_TEST_OUT (the Rust test asserts on it), waits with a guard
-- against hangs, and what the plugin told the user. Load it with
-- `dofile`; it returns the harness.

local H = { out = { notified = {}, waits = {} } }

-- Waits are a guard against hangs, not a measure of speed.
local started = vim.loop.hrtime()

function H.wait_for(what, condition)
  if not vim.wait(60000, condition, 50) then
    error('timed out waiting for ' .. what, 0)
  end
  table.insert(H.out.waits, string.format('%.1f s: %s', (vim.loop.hrtime() - started) / 1e9, what))
end

-- What the plugin tells the user.
vim.notify = function(message, level)
  table.insert(H.out.notified, { message = message, level = level })
end

--- How many of the messages told so far match `pattern`.
function H.notified(pattern)
  local count = 0
  for _, n in ipairs(H.out.notified) do
    if n.message:find(pattern) then
      count = count + 1
    end
  end
  return count
end

function H.lines(bufnr)
  return vim.api.nvim_buf_get_lines(bufnr or 0, 0, -1, false)
end

--- Whether a line of buffer `bufnr` is `line`.
function H.has_line(bufnr, line)
  return vim.tbl_contains(H.lines(bufnr), line)
end

--- Runs `run`, then writes the report and quits (non-zero on failure).
function H.run(run)
  local ok, failure = xpcall(run, debug.traceback)
  H.out.failure = not ok and failure or nil
  H.out.questions = _G.meshls_test_questions
  local file = assert(io.open(os.getenv('MESHLS_TEST_OUT'), 'w'))
  file:write(vim.fn.json_encode(H.out))
  file:close()
  vim.cmd(ok and 'qall!' or 'cquit 1')
end

return H
