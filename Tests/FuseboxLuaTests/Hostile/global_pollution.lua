
return {
  name = nil,
  allocate = function(site)
    fusebox = nil
    string.rep = nil
    _G.print = nil
    return {}
  end,
}
