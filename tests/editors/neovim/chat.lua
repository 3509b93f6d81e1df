-- Driven by tests/tests/neovim.rs: a user asks the agent a question with
-- :MeshlsAsk before any chat is open, then opens :MeshlsChat and sees that
-- run; starts a new session and asks again from the chat, watching the
-- answer stream in; then opens each session's transcript with
-- :MeshlsSessions. Last, run events that come out of order.

local H = dofile(vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':h') .. '/harness.lua')
local meshls = require('meshls')
local out = H.out

local function ended(bufnr, count)
  local seen = 0
  for _, line in ipairs(H.lines(bufnr)) do
    if line:find('^%*%*done in') then
      seen = seen + 1
    end
  end
  return seen >= count
end

-- vim.ui.select, as the user who picks the `pick`th item.
local function pick(pick)
  vim.ui.select = function(items, opts, on_choice)
    out.listed = {}
    for _, item in ipairs(items) do
      table.insert(out.listed, { id = item.id, shown = opts.format_item(item) })
    end
    out.prompt = opts.prompt
    on_choice(items[pick], pick)
  end
end

H.run(function()
  vim.cmd('edit ' .. vim.fn.fnameescape(os.getenv('MESHLS_TEST_FILE')))
  local main = vim.api.nvim_get_current_buf()
  H.wait_for('meshls to attach', function()
    return meshls.client(main) ~= nil
  end)

  -- A run while no chat is open.
  vim.cmd('MeshlsAsk What is wrong here?')
  H.wait_for('the first run to end', function()
    return H.notified('^meshls: done in 2 step%(s%)$') == 1
  end)

  vim.cmd('MeshlsChat')
  local chat = vim.api.nvim_get_current_buf()
  out.chat = {
    name = vim.api.nvim_buf_get_name(chat),
    buftype = vim.bo[chat].buftype,
    filetype = vim.bo[chat].filetype,
    modifiable = vim.bo[chat].modifiable,
    windows = #vim.api.nvim_list_wins(),
  }
  -- Its last event may come just after the progress's end.
  H.wait_for('the first run in the chat', function()
    return ended(chat, 1)
  end)
  out.chat_after_first = H.lines(chat)
  -- :MeshlsChat again focuses the window it has.
  vim.cmd('wincmd p')
  vim.cmd('MeshlsChat')
  out.chat_again = { same = vim.api.nvim_get_current_buf() == chat, windows = #vim.api.nvim_list_wins() }

  -- Every state of the chat while the second run streams.
  out.snapshots = {}
  vim.api.nvim_buf_attach(chat, false, {
    on_lines = function(_, bufnr)
      table.insert(out.snapshots, table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), '\n'))
    end,
  })
  -- From the chat, which meshls does not serve: the session's client.
  vim.cmd('MeshlsNewSession')
  H.wait_for('the new session', function()
    return H.notified('^meshls: new session ') == 1
  end)
  vim.cmd('MeshlsAsk And how do I fix it?')
  H.wait_for('the second run to end in the chat', function()
    return ended(chat, 2)
  end)
  out.chat_after_second = H.lines(chat)

  -- The newest session's transcript, then the older one's.
  pick(1)
  vim.cmd('MeshlsSessions')
  H.wait_for("the newest session's transcript", function()
    return out.listed and vim.api.nvim_buf_get_name(0):find(out.listed[1].id .. '.md', 1, true) ~= nil
  end)
  out.first_pick = { listed = out.listed, name = vim.api.nvim_buf_get_name(0), lines = H.lines(0) }
  pick(2)
  out.listed = nil
  vim.cmd('MeshlsSessions')
  H.wait_for("the older session's transcript", function()
    return out.listed and vim.api.nvim_buf_get_name(0):find(out.listed[2].id .. '.md', 1, true) ~= nil
  end)
  out.second_pick = { listed = out.listed, name = vim.api.nvim_buf_get_name(0), lines = H.lines(0) }

  -- A run's events out of order, as the client's handler gets them, with
  -- the chat hidden: they show in `seq` order when it opens.
  local client = meshls.client(main)
  local handler = client.config.handlers['meshls/runEvent']
  local function event(seq, kind, fields)
    fields.session, fields.run, fields.seq, fields.kind = 'session-x', 'run-x', seq, kind
    handler(nil, fields, { method = 'meshls/runEvent', client_id = client.id })
  end
  event(2, 'text', { text = ' world' })
  event(0, 'start', { instruction = 'In order', action = 'ask' })
  event(3, 'end', { outcome = 'done in 1 step(s)', tokens = { input = 1, output = 2 }, cost = 0, files = {}, undo = true })
  event(1, 'text', { text = 'Hello' })
  event(1, 'text', { text = 'Hello' })
  vim.cmd('MeshlsChat')
  out.chat_reordered = H.lines(0)
end)
