-- The init file of the Neovim tests (nvim -u this): the plugin from this
-- repository, set up with the meshls binary under test, as a user would.
vim.opt.runtimepath:prepend(os.getenv('MESHLS_TEST_PLUGIN'))
vim.opt.swapfile = false
-- The user of these tests answers meshls's one question, whether to trust
-- the workspace, with "Not now" (its servers stay in their safe modes).
-- Neovim 0.7's own handler would wait for input that headless Neovim
-- never gets; any other question is recorded and dismissed.
_G.meshls_test_questions = {}
vim.lsp.handlers['window/showMessageRequest'] = function(_, result)
  table.insert(_G.meshls_test_questions, result.message)
  if result.message:find('is not trusted', 1, true) then
    return { title = 'Not now' }
  end
  return vim.NIL
end
require('meshls').setup({
  cmd = { os.getenv('MESHLS_TEST_BIN') or 'meshls' },
})
