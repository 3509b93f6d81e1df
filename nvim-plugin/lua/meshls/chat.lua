-- The agent's runs as a conversation: the `meshls/runEvent` notifications
-- meshls sends (the client asks for them with the capability
-- `experimental.meshlsRunEvents`), kept for the latest runs and shown in
-- the scratch buffer `meshls://chat` that :MeshlsChat opens.
--
-- Events are kept whether or not the buffer exists, so opening it later
-- shows the session so far; only the buffer's lines of the run an event
-- belongs to are rewritten. Neovim 0.7's API only.

local M = {}

local NAME = 'meshls://chat'

-- The most runs kept: older ones leave the chat (their transcripts stay,
-- see :MeshlsSessions).
M.max_runs = 50
-- Events held back per run while one before them is missing; past this,
-- the run goes on from the earliest held, as the missing one is not coming.
local MAX_HELD = 100

-- The runs, in the order their first event came.
local runs = {}
-- Run id -> run.
local by_id = {}
-- The client the latest event came from, for commands run from the chat.
local latest_client = nil
-- The chat buffer, once made.
local chat = nil

-- JSON null, as Neovim decodes it inside arrays, is vim.NIL.
local function value(v)
  if v == vim.NIL then
    return nil
  end
  return v
end

local function first_line(text)
  text = tostring(value(text) or '')
  return (text:gsub('\r', ''):match('^[^\n]*'))
end

-- A file URI as a path relative to the working directory where it can be.
local function path_of(uri)
  uri = value(uri)
  if type(uri) ~= 'string' or uri == '' then
    return '?'
  end
  local ok, fname = pcall(vim.uri_to_fname, uri)
  if not ok then
    return uri
  end
  return vim.fn.fnamemodify(fname, ':~:.')
end

--- The id of the client the latest run event came from, or nil.
function M.latest_client()
  return latest_client
end

local function new_run(event)
  local run = {
    id = event.run,
    session = value(event.session),
    next_seq = 0,
    held = {},
    held_count = 0,
    parts = {},
  }
  by_id[run.id] = run
  table.insert(runs, run)
  while #runs > M.max_runs do
    by_id[table.remove(runs, 1).id] = nil
  end
  return run
end

-- The latest part of `kind` that `matches`, from the end.
local function last_part(run, kind, matches)
  for i = #run.parts, 1, -1 do
    local part = run.parts[i]
    if part.kind == kind and matches(part) then
      return part
    end
  end
end

-- Folds one event into its run.
local function apply(run, event)
  local kind = event.kind
  if kind == 'start' then
    run.instruction = value(event.instruction)
    run.action = value(event.action)
  elseif kind == 'text' then
    local text = tostring(value(event.text) or ''):gsub('\r', '')
    local last = run.parts[#run.parts]
    if last and last.kind == 'text' then
      last.text = last.text .. text
    else
      table.insert(run.parts, { kind = 'text', text = text })
    end
  elseif kind == 'tool' then
    local name, about, outcome = value(event.name), value(event.about), value(event.outcome)
    local started = outcome
      and last_part(run, 'tool', function(part)
        return part.outcome == nil and part.name == name and part.about == about
      end)
    if started then
      started.outcome = outcome
    else
      table.insert(run.parts, { kind = 'tool', name = name, about = about, outcome = outcome })
    end
  elseif kind == 'edit' then
    table.insert(run.parts, { kind = 'edit', uri = value(event.uri), summary = value(event.summary) })
  elseif kind == 'diagnostics' then
    table.insert(run.parts, { kind = 'diagnostics', errors = value(event.errors) or {} })
  elseif kind == 'approval' then
    table.insert(run.parts, { kind = 'approval', asked = value(event.asked), answer = value(event.answer) })
  elseif kind == 'end' then
    run.ended = {
      outcome = value(event.outcome),
      tokens = value(event.tokens) or {},
      cost = value(event.cost),
      undo = value(event.undo) == true,
    }
  end
  -- Kinds of a newer meshls are left out.
end

-- The lines of a list item for each part but text.
local function item(part)
  if part.kind == 'tool' then
    local about = first_line(part.about)
    local line = '- ' .. tostring(part.name or '?') .. (about ~= '' and (' ' .. about) or '')
    return { line .. ': ' .. (part.outcome and tostring(part.outcome) or 'running') }
  elseif part.kind == 'edit' then
    return { string.format('- edited %s (%s)', path_of(part.uri), tostring(part.summary or 'changed')) }
  elseif part.kind == 'diagnostics' then
    if #part.errors == 0 then
      return { '- no errors after the edits' }
    end
    local lines = {}
    for _, e in ipairs(part.errors) do
      local source = value(e.source)
      table.insert(
        lines,
        string.format(
          '- error in %s:%s%s: %s',
          path_of(e.uri),
          tostring(value(e.line) or '?'),
          source and (' (' .. tostring(source) .. ')') or '',
          first_line(e.message)
        )
      )
    end
    return lines
  elseif part.kind == 'approval' then
    return { string.format('- asked "%s": %s', first_line(part.asked), tostring(part.answer or '?')) }
  end
  return {}
end

local function end_line(ended)
  local tokens = type(ended.tokens) == 'table' and ended.tokens or {}
  local line = string.format(
    '**%s**: %d tokens in, %d out, $%.4f.',
    first_line(ended.outcome or 'ended'),
    tonumber(value(tokens.input)) or 0,
    tonumber(value(tokens.output)) or 0,
    tonumber(ended.cost) or 0
  )
  if ended.undo then
    line = line .. ' Undo with :MeshlsUndo.'
  end
  return line
end

-- A run's lines in the chat: a session's first run starts with the
-- session's heading.
local function lines_of(run, previous)
  local lines = {}
  local function add(line)
    table.insert(lines, line)
  end
  if not previous or previous.session ~= run.session then
    add('# Session ' .. tostring(run.session or '?'))
    add('')
  end
  local action = run.action and run.action ~= 'ask' and (' (' .. tostring(run.action) .. ')') or ''
  add('## You' .. action)
  add('')
  if run.instruction then
    for _, line in ipairs(vim.split(tostring(run.instruction):gsub('\r', ''), '\n', { plain = true })) do
      add('> ' .. line)
    end
  else
    add('> (run ' .. tostring(run.id) .. ')')
  end
  local listing = false
  for _, part in ipairs(run.parts) do
    if part.kind == 'text' then
      -- Without the blank lines around it: the chat puts its own.
      local text = part.text:gsub('^%s+', ''):gsub('%s+$', '')
      if text:match('%S') then
        add('')
        for _, line in ipairs(vim.split(text, '\n', { plain = true })) do
          add(line)
        end
        listing = false
      end
    else
      if not listing then
        add('')
        listing = true
      end
      for _, line in ipairs(item(part)) do
        add(line)
      end
    end
  end
  if run.ended then
    add('')
    add(end_line(run.ended))
  end
  add('')
  return lines
end

local function chat_buffer()
  if chat and vim.api.nvim_buf_is_valid(chat) then
    return chat
  end
  chat = nil
  return nil
end

-- Replaces lines `first`..`last` (from 0, end excluded) of the chat,
-- keeping each window that was at its last line there.
local function set_lines(buf, first, last, lines)
  local following = {}
  local count = vim.api.nvim_buf_line_count(buf)
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    if vim.api.nvim_win_get_cursor(win)[1] >= count then
      table.insert(following, win)
    end
  end
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, first, last, false, lines)
  vim.bo[buf].modifiable = false
  count = vim.api.nvim_buf_line_count(buf)
  for _, win in ipairs(following) do
    vim.api.nvim_win_set_cursor(win, { count, 0 })
  end
end

local function render_all(buf)
  local lines = {}
  local previous = nil
  for _, run in ipairs(runs) do
    local shown = lines_of(run, previous)
    run.shown = #shown
    vim.list_extend(lines, shown)
    previous = run
  end
  if #lines == 0 then
    lines = { 'No agent run yet: ask with :MeshlsAsk {instruction}.' }
  end
  set_lines(buf, 0, -1, lines)
end

-- Rewrites the lines of `run` alone; all of them when the runs changed.
local function render(run)
  local buf = chat_buffer()
  if not buf then
    return
  end
  local first, previous = 0, nil
  for _, other in ipairs(runs) do
    if other == run then
      break
    end
    if other.shown == nil then
      return render_all(buf)
    end
    first = first + other.shown
    previous = other
  end
  if run.shown == nil or by_id[run.id] ~= run then
    return render_all(buf)
  end
  local lines = lines_of(run, previous)
  set_lines(buf, first, first + run.shown, lines)
  run.shown = #lines
end

--- Takes one `meshls/runEvent` (the client's handler): its run's events
--- are applied in `seq` order, whatever order they come in.
function M.receive(event, client_id)
  if type(event) ~= 'table' or value(event.run) == nil then
    return
  end
  latest_client = client_id or latest_client
  local run = by_id[event.run]
  local fresh = run == nil
  run = run or new_run(event)
  local seq = tonumber(value(event.seq))
  if seq == nil then
    apply(run, event)
  elseif seq >= run.next_seq and run.held[seq] == nil then
    run.held[seq] = event
    run.held_count = run.held_count + 1
    if run.held_count > MAX_HELD then
      local earliest = nil
      for held in pairs(run.held) do
        earliest = (earliest == nil or held < earliest) and held or earliest
      end
      run.next_seq = earliest
    end
    while run.held[run.next_seq] ~= nil do
      apply(run, run.held[run.next_seq])
      run.held[run.next_seq] = nil
      run.held_count = run.held_count - 1
      run.next_seq = run.next_seq + 1
    end
  else
    return -- seen already
  end
  if fresh then
    local buf = chat_buffer()
    if buf then
      render_all(buf)
    end
  else
    render(run)
  end
end

--- The chat buffer, made (with the runs so far) when there is none.
function M.buffer()
  local buf = chat_buffer()
  if buf then
    return buf
  end
  buf = vim.api.nvim_create_buf(true, true)
  if not pcall(vim.api.nvim_buf_set_name, buf, NAME) then
    -- A buffer of that name that is not ours (say, `:edit meshls://chat`).
    pcall(vim.api.nvim_buf_set_name, buf, NAME .. '-' .. buf)
  end
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'hide'
  vim.bo[buf].swapfile = false
  vim.bo[buf].filetype = 'markdown'
  chat = buf
  render_all(buf)
  return buf
end

--- :MeshlsChat: shows the chat, in a window of this tab page that shows it
--- already, else in a new window on the right; the cursor at its end.
function M.open()
  local buf = M.buffer()
  local tab = vim.api.nvim_get_current_tabpage()
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    if vim.api.nvim_win_get_tabpage(win) == tab then
      vim.api.nvim_set_current_win(win)
      return buf
    end
  end
  vim.cmd('botright vsplit')
  vim.api.nvim_win_set_buf(0, buf)
  vim.wo.wrap = true
  vim.wo.linebreak = true
  vim.api.nvim_win_set_cursor(0, { vim.api.nvim_buf_line_count(buf), 0 })
  return buf
end

return M
