
return {
  name = nil,
  allocate = function(site)
    while true do end
  end,
}
