-- Driven by tests/tests/neovim.rs: the agent edits the open file, the user
-- watches the run in :MeshlsChat and takes it back with :MeshlsUndo from
-- there; a second :MeshlsUndo finds nothing left to undo.

local H = dofile(vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':h') .. '/harness.lua')
local meshls = require('meshls')
local out = H.out

H.run(function()
  vim.cmd('edit ' .. vim.fn.fnameescape(os.getenv('MESHLS_TEST_FILE')))
  local main = vim.api.nvim_get_current_buf()
  H.wait_for('meshls to attach', function()
    return meshls.client(main) ~= nil
  end)
  out.before = H.lines(main)

  vim.cmd('MeshlsChat')
  local chat = vim.api.nvim_get_current_buf()
  vim.cmd('wincmd p')
  vim.cmd('MeshlsAsk Make the label a string')
  H.wait_for('the edit in the buffer', function()
    return H.lines(main)[1] == 'const label: string = "42";'
  end)
  out.edited = H.lines(main)
  H.wait_for('the run to end in the chat', function()
    for _, line in ipairs(H.lines(chat)) do
      if line:find('^%*%*done in') then
        return true
      end
    end
  end)
  out.chat = H.lines(chat)

  -- From the chat window.
  vim.cmd('MeshlsChat')
  vim.cmd('MeshlsUndo')
  H.wait_for('the buffer as it was', function()
    return H.lines(main)[1] == out.before[1]
  end)
  H.wait_for('what the undo did', function()
    return #out.notified > 0 and out.notified[#out.notified].message:find('^meshls agent: undid') ~= nil
  end)
  out.undone = H.lines(main)
  out.undo_message = out.notified[#out.notified].message
  out.current_after_undo = vim.api.nvim_get_current_buf() == chat

  -- Back in the file: nothing is left to undo, and the buffer stays.
  vim.cmd('wincmd p')
  local told = #out.notified
  vim.cmd('MeshlsUndo')
  H.wait_for('the second answer', function()
    return #out.notified > told
  end)
  out.second_message = out.notified[#out.notified].message
  out.after_second = H.lines(main)
end)
