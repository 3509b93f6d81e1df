-- Driven by tests/tests/neovim.rs: a user in Neovim fixes a type error with
-- "Fix with agent" from the code action menu, then asks the agent about a
-- selection with :MeshlsAsk. What happened is written as JSON to
-- $MESHLS_TEST_OUT; the Rust test asserts on it.

local meshls = require('meshls')
local out = { notified = {} }

local function finish(failure)
  out.failure = failure
  out.questions = _G.meshls_test_questions
  local file = assert(io.open(os.getenv('MESHLS_TEST_OUT'), 'w'))
  file:write(vim.fn.json_encode(out))
  file:close()
  vim.cmd(failure and 'cquit 1' or 'qall!')
end

-- Waits are a guard against hangs, not a measure of speed.
local started = vim.loop.hrtime()
out.waits = {}
local function wait_for(what, condition)
  if not vim.wait(60000, condition, 50) then
    error('timed out waiting for ' .. what, 0)
  end
  table.insert(out.waits, string.format('%.1f s: %s', (vim.loop.hrtime() - started) / 1e9, what))
end

local function lines()
  return vim.api.nvim_buf_get_lines(0, 0, -1, false)
end

local function type_errors()
  local found = {}
  for _, diagnostic in ipairs(vim.diagnostic.get(0)) do
    if diagnostic.source == 'typescript' and diagnostic.message:find('not assignable', 1, true) then
      table.insert(found, diagnostic.lnum)
    end
  end
  return found
end

-- What the plugin tells the user.
vim.notify = function(message, level)
  table.insert(out.notified, { message = message, level = level })
end

local function notified(pattern)
  local count = 0
  for _, n in ipairs(out.notified) do
    if n.message:find(pattern) then
      count = count + 1
    end
  end
  return count
end

local function run()
  vim.cmd('edit ' .. vim.fn.fnameescape(os.getenv('MESHLS_TEST_FILE')))
  wait_for('meshls to attach', function()
    return meshls.client(0) ~= nil
  end)
  out.pid = meshls.client(0).rpc.pid
  wait_for("TypeScript's type error", function()
    return #type_errors() > 0
  end)
  out.type_errors_before = type_errors()

  -- The code action menu, as the user sees it, picking "Fix with agent".
  vim.api.nvim_win_set_cursor(0, { 1, 6 })
  vim.ui.select = function(items, opts, on_choice)
    out.titles = {}
    local chosen
    for _, item in ipairs(items) do
      local title = opts.format_item(item)
      table.insert(out.titles, title)
      if not chosen and title:find('^Fix with agent: ') then
        chosen = item
      end
    end
    on_choice(chosen)
  end
  vim.lsp.buf.code_action()
  wait_for('the fix in the buffer', function()
    return lines()[1] == 'const label: string = "42";'
  end)
  out.after_fix = lines()
  wait_for('the type error to go', function()
    return #type_errors() == 0
  end)
  wait_for('the run to end', function()
    return notified('^meshls: done in 3 step%(s%)$') == 1 and meshls.status() == ''
  end)

  -- :MeshlsAsk on a visual selection of lines 2 and 3.
  vim.cmd('normal! 2GVj\27') -- select, then leave visual mode (sets '< and '>)
  vim.cmd("'<,'>MeshlsAsk shout the text")
  wait_for('the asked edit in the buffer', function()
    return lines()[2] == 'export const text = label.toUpperCase() + "!";'
  end)
  out.after_ask = lines()
  wait_for('the second run to end', function()
    return notified('^meshls: done in 2 step%(s%)$') == 1
  end)

  vim.cmd('MeshlsStatus')
  wait_for('the status', function()
    return notified('^meshls: agent: ') == 1
  end)
  vim.cmd('MeshlsCancel')
  wait_for('the answer to cancel', function()
    return notified('^meshls: no run to cancel$') == 1
  end)

  -- Stopping the client stops meshls.
  local client = meshls.client(0)
  vim.lsp.stop_client(client.id)
  wait_for('meshls to exit', function()
    return vim.loop.kill(out.pid, 0) ~= 0
  end)
end

local ok, failure = xpcall(run, debug.traceback)
finish(not ok and failure or nil)
