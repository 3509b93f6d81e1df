-- meshls for Neovim: one meshls client per project root, for every buffer
-- of a language meshls serves, and user commands for its agent.
--
-- Works on Neovim 0.7 (vim.lsp.start_client) and on current releases
-- (vim.lsp.start). See doc/meshls.txt.

local chat = require('meshls.chat')

local M = {}

local defaults = {
  cmd = { 'meshls' },
  filetypes = {
    'rust',
    'typescript',
    'typescriptreact',
    'javascript',
    'javascriptreact',
    'python',
    'c',
    'cpp',
    'go',
  },
  -- Groups of markers, looked for upwards from the file: the nearest
  -- directory holding a marker of the first group found decides the
  -- project root; without any, the file's own directory. meshls starts a
  -- language server where its own marker (Cargo.toml, package.json, ...)
  -- is at the root, so those come before .git: in a monorepo, the package.
  root_markers = {
    { 'meshls.toml', '.meshls' },
    {
      'Cargo.toml',
      'package.json',
      'tsconfig.json',
      'pyproject.toml',
      'setup.py',
      'go.mod',
      'compile_commands.json',
      '.git',
    },
  },
  -- The meshls table (the keys of meshls.toml), sent as
  -- initializationOptions and again by update_settings().
  settings = {},
  -- vim.notify when an agent run starts and ends.
  notify_progress = true,
  on_attach = nil,
  capabilities = nil,
}

M.options = vim.deepcopy(defaults)

-- Agent runs under way: progress token -> latest message.
local runs = {}
-- Neovim 0.7 only: root -> client id.
local started = {}
local told_missing = false

-- JSON null inside arrays comes as vim.NIL.
local function value_of(v)
  if v == vim.NIL then
    return nil
  end
  return v
end

-- A message of meshls's own already says whose it is.
local function notify(message, level)
  if not message:find('^meshls') then
    message = 'meshls: ' .. message
  end
  vim.notify(message, level or vim.log.levels.INFO)
end

-- From Neovim 0.11 on, client methods are called with `:` and
-- vim.str_utfindex takes an encoding.
local nvim_0_11 = vim.fn.has('nvim-0.11') == 1

local function request(client, method, params, handler, bufnr)
  if nvim_0_11 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

local function send_notification(client, method, params)
  if nvim_0_11 then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

local function stopped(client)
  if nvim_0_11 then
    return client:is_stopped()
  end
  return client.is_stopped()
end

local function all_clients()
  local get = vim.lsp.get_clients or vim.lsp.get_active_clients
  local mine = {}
  for _, client in pairs(get()) do
    if client.name == 'meshls' then
      table.insert(mine, client)
    end
  end
  return mine
end

--- The meshls client serving `bufnr` (default: the current buffer).
function M.client(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  for _, client in ipairs(all_clients()) do
    if vim.lsp.buf_is_attached(bufnr, client.id) then
      return client
    end
  end
  return nil
end

-- The client for a command run from `bufnr`: the buffer's, else (from the
-- chat, say) the one that sent the latest run event, else the only one
-- running; and whether it is the buffer's.
local function client_for(bufnr)
  local client = M.client(bufnr)
  if client then
    return client, true
  end
  local latest = chat.latest_client()
  client = latest and vim.lsp.get_client_by_id(latest)
  if client and not stopped(client) then
    return client, false
  end
  local running = all_clients()
  if #running == 1 then
    return running[1], false
  end
  return nil, false
end

--- The project root for a file: for the first group of `markers` (a
--- marker alone is a group of one) found upwards from the file, the
--- nearest directory holding one of the group; else the file's directory.
function M.find_root(path, markers)
  local start = vim.fn.fnamemodify(path, ':p:h')
  for _, group in ipairs(markers or M.options.root_markers) do
    group = type(group) == 'table' and group or { group }
    local dir = start
    while true do
      for _, marker in ipairs(group) do
        if (vim.uv or vim.loop).fs_stat(dir .. '/' .. marker) then
          return dir
        end
      end
      local parent = vim.fn.fnamemodify(dir, ':h')
      if parent == dir then
        break
      end
      dir = parent
    end
  end
  return start
end

local function on_progress(err, result, ctx, config)
  local default = vim.lsp.handlers['$/progress']
  if default then
    default(err, result, ctx, config)
  end
  if type(result) ~= 'table' or type(result.value) ~= 'table' then
    return
  end
  local token, value = result.token, result.value
  if value.kind == 'begin' and value.title == 'meshls agent' then
    runs[token] = value.message or 'working'
    if M.options.notify_progress then
      notify(runs[token])
    end
  elseif runs[token] == nil then
    return -- a language server's progress, not the agent's
  elseif value.kind == 'report' then
    runs[token] = value.message or runs[token]
  elseif value.kind == 'end' then
    runs[token] = nil
    if M.options.notify_progress then
      notify(value.message or 'done')
    end
  end
  vim.api.nvim_exec_autocmds('User', { pattern = 'MeshlsProgress', modeline = false })
end

--- For the statusline: what the agent is doing, or '' when it is idle.
function M.status()
  for _, message in pairs(runs) do
    return 'meshls: ' .. message
  end
  return ''
end

-- Opens the file `fname` in the current window, read again from disk if it
-- was loaded and is unchanged (a transcript is rewritten after each run).
local function open_file(fname)
  local buf = vim.fn.bufadd(fname)
  local loaded = vim.api.nvim_buf_is_loaded(buf)
  vim.fn.bufload(buf)
  vim.bo[buf].buflisted = true
  if not pcall(vim.api.nvim_win_set_buf, 0, buf) then
    -- This window's buffer has changes it cannot leave: a new window.
    vim.cmd('sbuffer ' .. buf)
  end
  if loaded and not vim.bo[buf].modified then
    pcall(vim.cmd, 'silent edit')
  end
end

-- `window/showDocument` for Neovim 0.7, which has no handler of its own:
-- meshls opens long answers and transcripts with it. Files only.
local function show_document(_, result)
  if type(result) ~= 'table' or type(result.uri) ~= 'string' or result.external then
    return { success = false }
  end
  local ok = pcall(function()
    open_file(vim.uri_to_fname(result.uri))
    local selection = result.selection
    if type(selection) == 'table' and type(selection.start) == 'table' then
      local line = math.min(selection.start.line + 1, vim.api.nvim_buf_line_count(0))
      vim.api.nvim_win_set_cursor(0, { line, 0 })
    end
  end)
  return { success = ok }
end

-- A Lua table as a JSON object, even when empty (an empty one would go
-- out as `[]`).
local function object(tbl)
  if next(tbl) == nil then
    return vim.empty_dict()
  end
  return tbl
end

-- The client's capabilities: the user's over Neovim's own, and the run
-- events the chat shows.
local function capabilities()
  local capabilities =
    vim.tbl_deep_extend('force', vim.lsp.protocol.make_client_capabilities(), M.options.capabilities or {})
  capabilities.experimental = type(capabilities.experimental) == 'table' and capabilities.experimental or {}
  capabilities.experimental.meshlsRunEvents = true
  return capabilities
end

local function config_for(root)
  local handlers = {
    ['$/progress'] = on_progress,
    ['meshls/runEvent'] = function(_, result, ctx)
      chat.receive(result, ctx and ctx.client_id)
    end,
  }
  if not vim.lsp.handlers['window/showDocument'] then
    handlers['window/showDocument'] = show_document
  end
  return {
    name = 'meshls',
    cmd = M.options.cmd,
    root_dir = root,
    workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
    init_options = object(M.options.settings),
    settings = { meshls = object(M.options.settings) },
    handlers = handlers,
    capabilities = capabilities(),
    on_attach = M.options.on_attach,
  }
end

--- Starts meshls for `bufnr` (or attaches it to the running client of its
--- root).
function M.attach(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == '' or vim.bo[bufnr].buftype ~= '' or M.client(bufnr) then
    return
  end
  if vim.fn.executable(M.options.cmd[1]) ~= 1 then
    if not told_missing then
      told_missing = true
      notify(
        string.format(
          '`%s` is not an executable on PATH: install meshls (`cargo install --locked --path server` in its repository) or give its path in require("meshls").setup({ cmd = { "/path/to/meshls" } })',
          M.options.cmd[1]
        ),
        vim.log.levels.ERROR
      )
    end
    return
  end
  local root = M.find_root(name)
  if vim.lsp.start then
    -- Neovim 0.8 attaches the current buffer whatever `bufnr` says.
    vim.api.nvim_buf_call(bufnr, function()
      vim.lsp.start(config_for(root), { bufnr = bufnr })
    end)
    return
  end
  local id = started[root]
  local client = id and vim.lsp.get_client_by_id(id)
  if not client or client.is_stopped() then
    id = vim.lsp.start_client(config_for(root))
    started[root] = id
  end
  if id then
    vim.lsp.buf_attach_client(bufnr, id)
  end
end

--- Runs a meshls command (`workspace/executeCommand`) for `bufnr`;
--- `on_result` gets its result.
function M.execute(command, arguments, bufnr, on_result)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local client, attached = client_for(bufnr)
  if not client then
    notify('not running for this buffer (see :checkhealth meshls)', vim.log.levels.WARN)
    return
  end
  request(client, 'workspace/executeCommand', { command = command, arguments = arguments }, function(err, result)
    if err then
      notify(err.message, vim.log.levels.ERROR)
    elseif on_result then
      on_result(result)
    end
  end, attached and bufnr or nil)
end

--- `meshls.ask` with the instruction and where the user is: the lines
--- `line1`..`line2` (from 1) when given, else the cursor. From a buffer
--- meshls does not serve (the chat, say), the instruction alone.
function M.ask(instruction, line1, line2)
  local bufnr = vim.api.nvim_get_current_buf()
  if not M.client(bufnr) then
    M.execute('meshls.ask', { instruction }, bufnr)
    return
  end
  local range
  if line1 and line2 then
    range = { start = { line = line1 - 1, character = 0 }, ['end'] = { line = line2, character = 0 } }
  else
    local cursor = vim.api.nvim_win_get_cursor(0)
    local line = vim.api.nvim_buf_get_lines(bufnr, cursor[1] - 1, cursor[1], false)[1] or ''
    local character
    if nvim_0_11 then
      character = vim.str_utfindex(line, 'utf-16', cursor[2])
    else
      -- Before 0.11: the UTF-32 index, then the UTF-16 one.
      character = select(2, vim.str_utfindex(line, cursor[2]))
    end
    local at = { line = cursor[1] - 1, character = character }
    range = { start = at, ['end'] = at }
  end
  M.execute('meshls.ask', { instruction, { uri = vim.uri_from_bufnr(bufnr), range = range } }, bufnr)
end

function M.cancel()
  M.execute('meshls.cancel', {}, 0, function(result)
    local cancelled = type(result) == 'table' and result.cancelled or 0
    notify(cancelled > 0 and string.format('cancelled %d run(s)', cancelled) or 'no run to cancel')
  end)
end

function M.review()
  M.execute('meshls.review', { vim.uri_from_bufnr(0) }, 0)
end

function M.new_session()
  M.execute('meshls.newSession', {}, 0, function(result)
    notify('new session ' .. tostring(type(result) == 'table' and result.session or '?'))
  end)
end

--- :MeshlsUndo: undoes the latest run's edits (`meshls.undoRun`), or the
--- run `run` (its id), and says what came of it.
function M.undo(run)
  M.execute('meshls.undoRun', run and { { run = run } } or {}, 0, function(result)
    local message = type(result) == 'table' and value_of(result.message) or nil
    notify(message and tostring(message) or 'nothing was undone')
  end)
end

--- `meshls.sessions` formatted for a list: title, runs, last used.
function M.format_session(session)
  local title = value_of(session.title)
  return string.format(
    '%s  (%d run(s), %s)',
    (title and title ~= '') and title or '(no request yet)',
    tonumber(value_of(session.runs)) or 0,
    os.date('%Y-%m-%d %H:%M', tonumber(value_of(session.updated)) or 0)
  )
end

--- :MeshlsSessions: picks one of the workspace's sessions with
--- vim.ui.select and opens its transcript.
function M.sessions()
  local bufnr = vim.api.nvim_get_current_buf()
  M.execute('meshls.sessions', {}, bufnr, function(sessions)
    if type(sessions) ~= 'table' or #sessions == 0 then
      notify('no agent sessions in this workspace yet')
      return
    end
    vim.ui.select(sessions, { prompt = 'meshls sessions', format_item = M.format_session }, function(session)
      if session then
        M.show_session(session.id, bufnr)
      end
    end)
  end)
end

--- Opens a session's transcript (`meshls.showSession`): `id`'s, else the
--- current session's. meshls asks the editor to show it; if the editor
--- did not, it is opened here.
function M.show_session(id, bufnr)
  M.execute('meshls.showSession', id and { id } or {}, bufnr or 0, function(result)
    local uri = type(result) == 'table' and value_of(result.uri) or nil
    if type(uri) ~= 'string' then
      return
    end
    local fname = vim.uri_to_fname(uri)
    local current = vim.api.nvim_buf_get_name(0)
    local real = (vim.uv or vim.loop).fs_realpath
    if current ~= fname and (real(current) or current) ~= (real(fname) or fname) then
      open_file(fname)
    end
  end)
end

--- The text of a `meshls.status` result, one line per part.
function M.format_status(status)
  local lines = {}
  local agent = type(status) == 'table' and status.agent or nil
  if type(agent) == 'table' and type(agent.model) == 'table' then
    local line = string.format('agent: %s at %s', agent.model.model or '?', agent.model.baseUrl or '?')
    local session = agent.session
    if type(session) == 'table' then
      local usage = session.usage or {}
      line = line
        .. string.format(
          ', %s, session %s: %d run(s), %d tokens in, %d out, $%.4f',
          session.running and 'running' or 'idle',
          session.id or '?',
          session.runs or 0,
          usage.input_tokens or 0,
          usage.output_tokens or 0,
          session.cost or 0
        )
    else
      line = line .. ', no session yet'
    end
    table.insert(lines, line)
  end
  for _, server in ipairs(type(status) == 'table' and status.servers or {}) do
    local line = string.format('%s: %s', server.name or '?', server.state or '?')
    if server.pid ~= nil and server.pid ~= vim.NIL then
      line = line .. string.format(', pid %d', server.pid)
    end
    if (server.restarts or 0) > 0 then
      line = line .. string.format(', %d restart(s)', server.restarts)
    end
    if server.lastError ~= nil and server.lastError ~= vim.NIL then
      line = line .. ', last error: ' .. tostring(server.lastError)
    end
    table.insert(lines, line)
  end
  return table.concat(lines, '\n')
end

function M.show_status()
  M.execute('meshls.status', { { quiet = true } }, 0, function(result)
    notify(M.format_status(result))
  end)
end

--- Sends new settings (the meshls table) to every running meshls.
function M.update_settings(settings)
  M.options.settings = settings or {}
  local sent = { meshls = object(M.options.settings) }
  for _, client in ipairs(all_clients()) do
    client.config.settings = sent
    send_notification(client, 'workspace/didChangeConfiguration', { settings = sent })
  end
end

local function create_commands()
  local command = vim.api.nvim_create_user_command
  command('MeshlsAsk', function(opts)
    if opts.range > 0 then
      M.ask(opts.args, opts.line1, opts.line2)
    else
      M.ask(opts.args)
    end
  end, { nargs = '+', range = true, desc = 'Ask the meshls agent (about the selected lines, if any)' })
  command('MeshlsCancel', M.cancel, { desc = "Cancel the meshls agent's runs" })
  command('MeshlsReview', M.review, { desc = 'Review this file with the meshls agent' })
  command('MeshlsStatus', M.show_status, { desc = 'Show the meshls agent and language servers' })
  command('MeshlsNewSession', M.new_session, { desc = 'Start a new meshls agent conversation' })
  command('MeshlsChat', function()
    chat.open()
  end, { desc = "Show the meshls agent's runs as they happen" })
  command('MeshlsUndo', function()
    M.undo()
  end, { desc = "Undo the meshls agent's latest run" })
  command('MeshlsSessions', function()
    M.sessions()
  end, { desc = "Open one of the meshls agent's sessions" })
end

--- Sets meshls up: `opts` overrides the defaults above, a table at a time.
function M.setup(opts)
  M.options = vim.tbl_extend('force', vim.deepcopy(defaults), opts or {})
  create_commands()
  local group = vim.api.nvim_create_augroup('meshls', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = M.options.filetypes,
    callback = function(args)
      M.attach(args.buf)
    end,
  })
  -- Buffers opened before setup.
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(M.options.filetypes, vim.bo[bufnr].filetype) then
      M.attach(bufnr)
    end
  end
end

return M
